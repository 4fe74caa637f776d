"""Where a job runs: decided once, when the job is compiled, and stored in its record."""

from __future__ import annotations

LOCAL_TARGET = "local"


def decide_region(target: str, requested: str | None, default_region: str) -> str | None:
    """The region of a job on ``target``: the spec's ``resources.region``, else the default region
    setting; None on the local target (it runs on this machine)."""
    if target == LOCAL_TARGET:
        return None
    return requested or default_region
