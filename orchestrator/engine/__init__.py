"""The Pulumi engine: where it lives (``find_engine``), how it is installed, how it is run."""

from orchestrator.engine.locate import PULUMI_VERSION, Engine, find_engine

__all__ = ["PULUMI_VERSION", "Engine", "find_engine"]
