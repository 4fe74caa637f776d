"""trainctl: ML training jobs on cloud GPUs with Pulumi stacks doing the bookkeeping."""

__version__ = "0.1.0"
