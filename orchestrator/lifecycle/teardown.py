"""Teardown: destroy everything of a job but its artifacts, and record how it ended.

Idempotent and safe to race: whoever takes the job lock first tears down; anyone else waits and
finds ``torn_down`` set. The lock is per home: on a shared backend, two homes may tear one job down
at once (a teammate's `cancel` and the owner's watcher); the record is then written only if it is
still the one read before the destroy, so the first end recorded stands. Used by `up` at the end of a
run, `cancel`, `down`, the agent's finalize hook and `recover`.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator.cost.accrual import accrued_cost
from orchestrator.errors import NotFoundError
from orchestrator.jobs.locks import job_lock
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.logs import get_logger
from orchestrator.metrics import journal
from orchestrator.targets import get_target
from orchestrator.targets.base import Observation
from orchestrator.vocabulary import RUN_OUTCOMES, JobState, LockOp, RunState, job_lock_key

TEARDOWN_LOCK_WAIT_S = 600.0


def teardown_job(
    rt: Runtime,
    job_id: str,
    *,
    requested: JobState | None = None,
    reason: str | None = None,
    on_event: Any = None,
    wait_s: float = TEARDOWN_LOCK_WAIT_S,
) -> JobRecord:
    """Destroy the job's stack (artifacts retained) and record its end state.

    ``requested`` is the state asked for by whoever stops a running job (cancelled, interrupted);
    a run that already ended on its own keeps its own outcome.
    """
    log = get_logger(__name__).bind(job_id=job_id)
    with job_lock(rt.settings.home, job_lock_key(job_id), LockOp.TEAR_DOWN, wait_s=wait_s):
        record = _load(rt, job_id)
        if record.torn_down:
            return record
        target = get_target(record.target)
        started = time.monotonic()
        _destroy_stack(rt, job_id, on_event)
        observation = target.observe(record.model_copy(update={"torn_down": True}))
        ended = _ended(record, observation, requested=requested, reason=reason)
        stored = rt.ledger.save_if_unchanged(ended)
        if stored is not ended:
            if stored.torn_down:  # another home tore it down meanwhile (a teammate's cancel, another watcher): theirs stands
                return stored
            ended = _ended(stored, observation, requested=requested, reason=reason)  # a reader folded a change in
            rt.ledger.save(ended)
        record = ended
        _record_end(record)
        log.info("job.torn_down", state=record.state, reason=record.reason, seconds=round(time.monotonic() - started, 2))
        return record


def _record_end(record: JobRecord) -> None:
    """Metrics: a job that ended succeeded or failed (counted once: a job is torn down once per end)."""
    if record.state == JobState.SUCCEEDED:
        journal.record("trainctl_training_jobs_completed_total", job_id=record.job_id, target=record.target, team=record.team)
    elif record.state == JobState.FAILED:
        reason = journal.failure_reason(record.reason)
        journal.record(
            "trainctl_training_jobs_failed_total", job_id=record.job_id, target=record.target, team=record.team, reason=reason
        )


def _ended(record: JobRecord, seen: Observation, *, requested: JobState | None, reason: str | None) -> JobRecord:
    if seen.state in RUN_OUTCOMES and record.state != JobState.PROVISIONING:
        state, why = RUN_OUTCOMES[seen.state], seen.reason
    elif requested is not None:
        state, why = requested, reason
    elif seen.state == RunState.STOPPED:
        state, why = JobState.INTERRUPTED, seen.reason
    else:
        state, why = JobState.INTERRUPTED, reason or seen.reason or "the run ended without a final status"
    started = seen.started_at or record.started_at
    ended = seen.ended_at or time.time()
    if started is None:
        ended = record.created
    updated = record.model_copy(
        update={
            "state": state,
            "reason": why,
            "exit_code": seen.exit_code,
            "started_at": started,
            "ended_at": ended,
            "torn_down": True,
            "stop_requested": None,
            "metrics": seen.metrics or record.metrics,
        }
    )
    updated.cost_usd = accrued_cost(updated, ended)
    return updated


def _load(rt: Runtime, job_id: str) -> JobRecord:
    record = rt.ledger.load(job_id)
    if record is None:
        raise NotFoundError(f"no job {job_id!r}", hint="`trainctl ls` lists jobs")
    return record


def _destroy_stack(rt: Runtime, job_id: str, on_event: Any) -> None:
    """Destroy the job's stack; a job interrupted before its stack existed has nothing allocated."""
    from orchestrator.engine.jobstack import JobStack

    with JobStack.open(rt.workspace, job_id) as stack:
        try:
            stack.destroy(on_event=on_event)
        except NotFoundError:
            return
