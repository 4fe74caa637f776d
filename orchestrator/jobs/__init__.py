"""Job identity, records (the fast index over Pulumi state) and per-job operation locks."""
