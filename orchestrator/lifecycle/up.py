"""`up`: resolve the job, allocate its stack, run it attached or detached, tear down at the end.

``up SPEC`` resumes the newest unfinished job of the spec's name (an interrupted one is relaunched
and resumes from its newest checkpoint; a running one is left alone); otherwise it creates a job.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestrator.compile import CompiledJob, compile_job, spec_region
from orchestrator.errors import RunFailedError
from orchestrator.jobs.locks import job_lock
from orchestrator.jobs.records import JobRecord, SweepMember, new_job_id
from orchestrator.lifecycle.allocate import allocate
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.runloop import after_run
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.lifecycle.stopping import Say, graceful_stop, stopped, teardown_after_stop
from orchestrator.lifecycle.watch import spawn_watcher
from orchestrator.logs import bind_job
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets import get_target
from orchestrator.targets.base import LogFollower, Target
from orchestrator.vocabulary import ACTIVE_STATES, RUN_ALIVE, RUN_ENDED, JobState, LockOp, RunState, job_lock_key, name_lock_key


@dataclass
class UpOutcome:
    """What `up` did: ``started`` (detached), ``finished``, or ``already-running``."""

    record: JobRecord
    outcome: str


def up_job(
    rt: Runtime,
    loaded: LoadedSpec,
    *,
    detach: bool,
    new: bool,
    say: Say,
    output: BinaryIO | None = None,
    policy_config: Path | None = None,
    sweep: SweepMember | None = None,
    stop: GracefulStop | None = None,
) -> UpOutcome:
    """Allocate and run the job of ``loaded``; see the module docstring for resume rules.

    ``sweep``: the job is that point of a sweep (`trainctl sweep`): it resumes only that point's job.
    ``stop``: the signal handling of a caller that runs several `up` at once in threads (the signal
    handlers belong to the main thread); by default `up` installs its own."""
    spec = loaded.spec
    target = get_target(spec.target)
    with graceful_stop() if stop is None else nullcontext(stop) as stop:
        with job_lock(rt.settings.home, name_lock_key(spec.name, sweep.point_digest if sweep else None), LockOp.UP):
            existing = None if new else rt.ledger.newest_unfinished(spec.name, sweep)
            if existing is not None:
                _settle(rt, existing.job_id)
                alive = _still_alive(rt, target, existing, say)
                if alive is not None:
                    return UpOutcome(alive, "already-running")
            job_id = existing.job_id if existing is not None else new_job_id(spec.name)
            bind_job(job_id, target=spec.target, team=spec.team)
            checked = target.preflight(loaded, region=spec_region(spec, rt.settings), offline=False)
            for line in checked.notices:
                say(f"notice: {line}")
            # what the target will launch (root volume, market)
            compiled = compile_job(checked.loaded, job_id, rt.settings, sweep=sweep)
            for line in compiled.notices:
                say(f"notice: {line}")
            rt.workspace  # noqa: B018 - find the engine before recording anything
            with job_lock(rt.settings.home, job_lock_key(job_id), LockOp.UP):
                record = allocate(rt, compiled, target, existing, stop, say, policy_config)
        if detach:
            watch_log = spawn_watcher(rt, job_id, policy_config, secrets=spec.secrets)
            say(f"job {job_id} is running (detached): `trainctl logs {job_id} -f`, `trainctl status {job_id}`")
            say(f"a watcher relaunches it after a preemption and tears it down when it ends (log: {watch_log})")
            return UpOutcome(record, "started")
        record = _attend(rt, compiled, record, target, stop, say, output or sys.stdout.buffer, policy_config)
    if record.state == JobState.FAILED:
        raise RunFailedError(
            f"job {job_id} failed: {record.reason}",
            context={"job_id": job_id},
            hint=f"`trainctl logs {job_id}` shows its whole output",
        )
    if record.state == JobState.CANCELLED:
        raise RunFailedError(f"job {job_id} was cancelled ({record.reason})", context={"job_id": job_id})
    return UpOutcome(record, "finished")


def _still_alive(rt: Runtime, target: Target, existing: JobRecord, say: Say) -> JobRecord | None:
    """The unfinished job's record when its run is alive (or its agent has not reported yet): nothing to do."""
    seen = target.observe(existing) if existing.state in ACTIVE_STATES else None
    if seen is None or seen.state not in RUN_ALIVE:
        return None
    reported = seen.state != RunState.PROVISIONING
    if existing.state == JobState.PROVISIONING and reported:  # its `up` died after the agent started
        existing = existing.model_copy(update={"state": JobState.RUNNING, "started_at": existing.started_at or seen.started_at})
        rt.ledger.save(existing)
    how = "is already running" if reported else "is starting (its agent has not reported yet)"
    say(f"job {existing.job_id} {how}; nothing to do (`trainctl logs {existing.job_id} -f`)")
    return existing


def _settle(rt: Runtime, job_id: str) -> None:
    """An engine orphaned by a killed trainctl finishes first; a lock its dead engine held is cleared.

    A lock that remains belongs to an operation in progress, perhaps a teammate's on another machine
    (the job's stack is in a shared backend): ConflictError (exit 4) naming its holder.
    """
    from orchestrator.engine.jobstack import JobStack

    with JobStack.open(rt.workspace, job_id) as stack:
        stack.settle()
        stack.clear_stale_lock()
        stack.refuse_if_locked(f"cannot resume {job_id}")


def _attend(
    rt: Runtime,
    job: CompiledJob,
    record: JobRecord,
    target: Target,
    stop: GracefulStop,
    say: Say,
    output: BinaryIO,
    policy_config: Path | None,
) -> JobRecord:
    """Stream the job's output until it ends, relaunching it after a preemption; then tear down.

    A signal asks to stop: the job saves a checkpoint and is torn down (artifacts kept).
    """
    log = LogFollower(lambda offset: target.read_log(record, offset), rt.settings.poll_interval_s)
    while True:
        _stream_run(log, target, record, stop, output)
        if stop.stop_requested:
            teardown_after_stop(rt, record.job_id, stop, say)
            raise stopped(stop)
        record, finished = after_run(rt, lambda: job, record, target, stop, say, policy_config)
        if finished:
            return record


def _stream_run(log: LogFollower, target: Target, record: JobRecord, stop: GracefulStop, output: BinaryIO) -> None:
    """Copy the run's output until the run ends or a stop is requested."""
    for chunk in log.follow(lambda: stop.stop_requested or target.observe(record).state in RUN_ENDED):
        output.write(chunk)
        output.flush()
