"""`cancel`, `down` and the agent's `finalize` hook: stopping and tearing down jobs on purpose."""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestrator.agent.procs import processes_with_env
from orchestrator.jobs.locks import lock_holder
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.progress import EngineProgress
from orchestrator.lifecycle.teardown import TEARDOWN_LOCK_WAIT_S, teardown_job
from orchestrator.lifecycle.watch import stop_watcher, watcher_pids
from orchestrator.logs import bind_job, get_logger
from orchestrator.targets import get_target
from orchestrator.vocabulary import JobState, LockOp

# How long `cancel` and `down` wait, after the teardown, for the job's last processes to exit (an agent's
# finalize finding nothing left to do, a watcher that was told to stop).
PROCESS_EXIT_WAIT_S = 60.0


def cancel_job(rt: Runtime, ref: str) -> JobRecord:
    """Stop a job gracefully (final checkpoint), tear it down, record it as cancelled."""
    record = rt.ledger.resolve(ref)
    bind_job(record.job_id, target=record.target, team=record.team)
    if not record.torn_down:
        record = _stop_and_tear_down(rt, record, "cancelled by `trainctl cancel`")
    wait_for_processes(rt, record.job_id)
    return record


def down_job(
    rt: Runtime, ref: str, *, purge: bool, confirm_purge: Callable[[JobRecord], None] | None = None
) -> tuple[JobRecord, list[str]]:
    """Tear a job down (stopping it if it runs); with ``purge`` delete its artifacts too.

    ``confirm_purge`` sees the job before anything is touched and raises to leave it as it is.
    """
    record = rt.ledger.resolve(ref)
    bind_job(record.job_id, target=record.target, team=record.team)
    if purge and confirm_purge is not None:
        confirm_purge(record)
    if not record.torn_down:
        record = _stop_and_tear_down(rt, record, "stopped by `trainctl down`")
    wait_for_processes(rt, record.job_id)
    removed: list[str] = []
    if purge:
        removed = get_target(record.target).purge(record)
        record = record.model_copy(update={"purged": True})
        rt.ledger.save(record)
    return record, removed


def wait_for_processes(rt: Runtime, job_id: str, timeout_s: float = PROCESS_EXIT_WAIT_S) -> list[int]:
    """After the teardown: tell the job's watcher to stop (it would notice only at its next look) and wait
    until no process of the job is left: agents, the run, the agent's finalize (all carry the job id in
    their environment) and the watcher. Returns the pids still there after ``timeout_s`` (logged)."""
    told: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        watchers = watcher_pids(job_id)
        if not set(watchers) <= told:
            told.update(stop_watcher(rt, job_id))  # only once the job is torn down, never mid-teardown
        left = processes_with_env("TRAINCTL_JOB_ID", job_id) + watchers
        if not left:
            return []
        if time.monotonic() >= deadline:
            get_logger(__name__).warning("job.processes_left", pids=",".join(map(str, sorted(left))))
            return left
        time.sleep(0.05)


def _wait_for(rt: Runtime, job_id: str) -> float:
    """Wait for a teardown already under way (same goal); refuse at once (exit 4) during any other operation."""
    holder = lock_holder(rt.settings.home, job_id)
    return TEARDOWN_LOCK_WAIT_S if holder is not None and holder.get("operation") == LockOp.TEAR_DOWN else 0.0


def _stop_and_tear_down(rt: Runtime, record: JobRecord, reason: str) -> JobRecord:
    """The run saves a final checkpoint and stops, the stack is destroyed (artifacts kept): cancelled."""
    wait_s = _wait_for(rt, record.job_id)
    return teardown_job(rt, record.job_id, requested=JobState.CANCELLED, reason=reason, on_event=EngineProgress(), wait_s=wait_s)


def finalize_job(rt: Runtime, job_id: str) -> JobRecord:
    """Run by the agent when its run ends: tear down with nobody watching (detached jobs, crashes)."""
    rt.bind(job_id)
    record = teardown_job(rt, job_id)
    get_logger(__name__).info("job.finalized", state=record.state)
    return record
