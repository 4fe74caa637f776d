"""The local target: the whole lifecycle on this machine, through real Pulumi dynamic providers."""
