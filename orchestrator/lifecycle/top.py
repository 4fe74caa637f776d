"""What `trainctl top` shows: running jobs and the most recent others, with the facts of each run.

Read from the job records and the agents' status files, like `status`: no engine process starts.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator.cost.accrual import accrued_cost
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.query import current
from orchestrator.targets import get_target
from orchestrator.vocabulary import ACTIVE_STATES

RECENT = 10  # ended jobs shown below the active ones


def top_rows(rt: Runtime, now: float | None = None, *, recent: int = RECENT) -> list[dict[str, Any]]:
    """Active jobs (newest first), then the ``recent`` newest others: one dict per job."""
    now = now or time.time()
    records = [current(rt, r) for r in rt.ledger.all()]
    active = [r for r in records if r.state in ACTIVE_STATES]
    ended = [r for r in records if r.state not in ACTIVE_STATES][:recent]
    return [_row(r, now) for r in [*active, *ended]]


def _row(record: JobRecord, now: float) -> dict[str, Any]:
    limits = record.spec.get("limits") if isinstance(record.spec, dict) else None
    budget = limits.get("max_cost_usd") if isinstance(limits, dict) else None
    row: dict[str, Any] = {
        "job_id": record.job_id,
        "state": record.state.value,
        "target": record.target,
        "runtime_s": round(record.runtime_s(now), 1),
        "cost_usd": record.cost_usd if record.cost_usd is not None else accrued_cost(record, now),
        "budget_usd": budget,
        "heartbeat_age_s": None,
        "checkpoint_age_s": None,
        "metrics": dict(record.metrics),
    }
    if record.state not in ACTIVE_STATES:
        return row
    seen = get_target(record.target).observe(record)
    if seen.updated_at:
        row["heartbeat_age_s"] = round(max(0.0, now - seen.updated_at), 1)
    if seen.newest_checkpoint_at:
        row["checkpoint_age_s"] = round(max(0.0, now - seen.newest_checkpoint_at), 1)
    row["metrics"] = seen.metrics or row["metrics"]
    if seen.nodes:  # a multi-node job: each node's state and heartbeat
        row["nodes"] = [view.summary(now) for view in seen.nodes]
    return row
