"""Cost so far of a job, from the lifecycle timestamps in its record (no cloud calls)."""

from __future__ import annotations

from typing import Protocol


class HasRuns(Protocol):
    """A job record, or anything that knows a job's target and runs (JobRecord, CostRecord)."""

    @property
    def target(self) -> str: ...

    def runs(self, now: float | None = None) -> list[tuple[float, float, float]]: ...


def accrued_cost(record: HasRuns, now: float | None = None) -> float:
    """Cost of the compute time so far, over every run of the job (each relaunch is a new run)."""
    return round(sum(run_cost(record.target, hourly, end - start) for start, end, hourly in record.runs(now)), 6)


def run_cost(target: str, hourly_usd: float, runtime_s: float) -> float:
    """One run's compute cost. Cloud targets bill as AWS does for Linux (per second, 60 s minimum per
    instance, so every relaunch pays its own minimum); the local machine's hourly price is prorated."""
    if runtime_s <= 0 or hourly_usd <= 0:
        return 0.0
    if target == "local":
        return hourly_usd * runtime_s / 3600.0
    from orchestrator.cost.billing import compute_cost

    return compute_cost(hourly_usd, runtime_s)
