"""The job spec: models, the YAML loader that keeps line numbers, and normalization."""
