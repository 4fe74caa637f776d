"""trainctl's Prometheus metrics: the journal every process appends to, and the exporter that folds it."""
