"""After a run ends: relaunch it (a preemption within ``restarts.max_preemptions``) or tear the job down.

The one loop step that attached `up` and the watcher of a detached job share: both look at the job
until its run ends, then call :func:`after_run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.compile import CompiledJob
from orchestrator.jobs.locks import job_lock
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.allocate import allocate
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.progress import EngineProgress
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.lifecycle.stopping import Say
from orchestrator.lifecycle.teardown import teardown_job
from orchestrator.metrics import journal
from orchestrator.targets.base import Decision, Target
from orchestrator.vocabulary import JobState, LockOp, job_lock_key


def after_run(
    rt: Runtime,
    compiled: Callable[[], CompiledJob],
    record: JobRecord,
    target: Target,
    stop: GracefulStop,
    say: Say,
    policy_config: Path | None,
) -> tuple[JobRecord, bool]:
    """The run ended: relaunch it (the new run's record, False) or tear the job down (the final record, True)."""
    decision = target.relaunch_decision(record)
    if decision.action in ("relaunch", "give-up"):  # both follow a preemption
        journal.record("trainctl_preemptions_total", job_id=record.job_id, target=record.target)
    if decision.action != "relaunch":
        return tear_down_ended(rt, record, decision, say), True
    return relaunch(rt, compiled(), record, target, decision, stop, say, policy_config), False


def relaunch(
    rt: Runtime,
    job: CompiledJob,
    record: JobRecord,
    target: Target,
    decision: Decision,
    stop: GracefulStop,
    say: Say,
    policy_config: Path | None,
) -> JobRecord:
    """After a preemption: allocate the job again; its run resumes from the newest checkpoint."""
    say(f"{decision.reason}; relaunching {record.job_id}")
    ended = target.observe(record).ended_at or time.time()  # the preempted run's end, for its cost
    record = record.model_copy(update={"preemptions": decision.preemptions, "ended_at": ended})
    rt.ledger.save(record)
    with job_lock(rt.settings.home, job_lock_key(record.job_id), LockOp.RELAUNCH):
        return allocate(rt, job, target, record, stop, say, policy_config)


def tear_down_ended(rt: Runtime, record: JobRecord, decision: Decision, say: Say) -> JobRecord:
    """The run ended and is not relaunched: tear the job down (artifacts kept), failed if we gave up on it."""
    if decision.action == "give-up":
        say(f"giving up: {decision.reason}; tearing down {record.job_id} (artifacts are kept)")
        return teardown_job(rt, record.job_id, requested=JobState.FAILED, reason=decision.reason, on_event=EngineProgress())
    say(f"run ended; tearing down {record.job_id} (artifacts are kept)")
    return teardown_job(rt, record.job_id, on_event=EngineProgress())
