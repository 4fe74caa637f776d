"""Cost so far of a job, from the lifecycle timestamps in its record (no cloud calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.jobs.records import JobRecord


def accrued_cost(record: JobRecord, now: float | None = None) -> float:
    """Billed cost of the compute time so far (per-second billing, 60 s minimum)."""
    runtime = record.runtime_s(now)
    if runtime <= 0 or record.hourly_usd <= 0:
        return 0.0
    from orchestrator.cost.billing import compute_cost

    return round(compute_cost(record.hourly_usd, runtime), 6)
