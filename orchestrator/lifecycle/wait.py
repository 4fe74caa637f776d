"""`wait`: block until a job ends, for CI (`up --detach`, then `wait`).

Waiting changes nothing: a timeout or a signal stops the waiting, never the job. A job has ended when
its record reaches a final state (succeeded, failed, cancelled, blocked), or when it is interrupted and
nothing will continue it: no watcher is left to relaunch it (an interrupted job whose watcher runs is
being relaunched after a preemption, so the wait goes on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.errors import (
    PolicyViolationError,
    RunFailedError,
    TrainctlError,
    WaitTimeoutError,
    interrupted,
)
from orchestrator.jobs.locks import is_locked
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.query import current
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.logs import bind_job, get_logger
from orchestrator.spec.durations import format_duration
from orchestrator.vocabulary import FINAL_STATES, JobState, watch_lock_key


@dataclass(frozen=True)
class WaitResult:
    """The job as the wait left it; ``ended`` False when the timeout came first."""

    record: JobRecord
    ended: bool
    waited_s: float
    timeout_s: float | None

    def raise_for_outcome(self) -> None:
        """Nothing when the job succeeded; else the error whose exit code says how it ended (see docs/ci.md)."""
        record, job = self.record, self.record.job_id
        if not self.ended:
            limit = format_duration(int(self.timeout_s or 0))
            raise WaitTimeoutError(
                f"job {job} is still {record.state} after {limit}; it keeps running",
                context={"job_id": job},
                hint=f"`trainctl wait {job}` again, or `trainctl cancel {job}` to stop it",
            )
        if record.state == JobState.SUCCEEDED:
            return
        why = f" ({record.reason})" if record.reason else ""
        if record.state == JobState.BLOCKED:
            raise PolicyViolationError(f"job {job} was blocked by policy{why}: nothing ran", context={"job_id": job})
        hints = {
            JobState.FAILED: f"`trainctl logs {job}` shows its whole output",
            JobState.CANCELLED: "someone stopped it (`trainctl cancel` or `down`); its artifacts are kept",
            JobState.INTERRUPTED: f"`trainctl status {job}` says how to resume it",
        }
        raise RunFailedError(f"job {job} {record.state}{why}", context={"job_id": job}, hint=hints.get(record.state))


def wait_for_job(rt: Runtime, ref: str, *, timeout_s: float | None = None) -> WaitResult:
    """Poll the job (an id, or a name for its newest job) until it ends or ``timeout_s`` passes.

    SIGINT or SIGTERM stop the waiting with InterruptedBySignal (exit 130 or 143); the job is left alone.
    """
    record = rt.ledger.resolve(ref)
    bind_job(record.job_id)
    started = time.monotonic()
    with GracefulStop() as stop:
        get_logger(__name__).info("wait.started", timeout_s=timeout_s)
        while True:
            record = current(rt, rt.ledger.load(record.job_id) or record)
            waited = time.monotonic() - started
            if _ended(rt, record):
                return WaitResult(record, True, waited, timeout_s)
            if timeout_s is not None and waited >= timeout_s:
                return WaitResult(record, False, waited, timeout_s)
            pause = rt.settings.poll_interval_s
            if timeout_s is not None:
                pause = max(0.0, min(pause, timeout_s - waited))
            if stop.wait(pause):
                raise _stopped(stop.signum or 2, record.job_id)


def _ended(rt: Runtime, record: JobRecord) -> bool:
    if record.state in FINAL_STATES:
        return True
    if record.state != JobState.INTERRUPTED:
        return False
    return record.torn_down or not is_locked(rt.settings.home, watch_lock_key(record.job_id))


def _stopped(signum: int, job_id: str) -> TrainctlError:
    return interrupted(
        signum, f"stopped waiting for job {job_id}; it keeps running", hint=f"`trainctl wait {job_id}` waits again"
    )
