"""Cost so far of a job, from the lifecycle timestamps in its record (no cloud calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.jobs.records import JobRecord


def accrued_cost(record: JobRecord, now: float | None = None) -> float:
    """Cost of the compute time so far.

    Cloud targets bill as AWS does for Linux (per second, 60 s minimum); the local machine's
    configured hourly price is prorated exactly.
    """
    runtime = record.runtime_s(now)
    if runtime <= 0 or record.hourly_usd <= 0:
        return 0.0
    if record.target == "local":
        return round(record.hourly_usd * runtime / 3600.0, 6)
    from orchestrator.cost.billing import compute_cost

    return round(compute_cost(record.hourly_usd, runtime), 6)
