"""`up`: resolve the job, allocate its stack, run it attached or detached, tear down at the end.

``up SPEC`` resumes the newest unfinished job of the spec's name (an interrupted one is relaunched
and resumes from its newest checkpoint; a running one is left alone); otherwise it creates a job.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from orchestrator.compile import CompiledJob, compile_job
from orchestrator.cost.accrual import accrued_cost
from orchestrator.errors import PolicyViolationError, RunFailedError, TrainctlError, interrupted
from orchestrator.jobs.locks import job_lock
from orchestrator.jobs.records import JobRecord, new_job_id
from orchestrator.lifecycle import guard
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.progress import EngineProgress
from orchestrator.lifecycle.recover import live_agent, stop_strays
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.lifecycle.teardown import teardown_job
from orchestrator.logs import bind_job, get_logger
from orchestrator.policy import PolicyCollector, engine_policy_args
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets import get_target
from orchestrator.targets.base import Target
from orchestrator.vocabulary import ACTIVE_STATES, RUN_ALIVE, RUN_ENDED, JobState, LockOp, job_lock_key, name_lock_key

if TYPE_CHECKING:
    from orchestrator.targets.preemption import Decision

Say = Callable[[str], None]


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
) -> UpOutcome:
    """Allocate and run the job of ``loaded``; see the module docstring for resume rules."""
    spec = loaded.spec
    target = get_target(spec.target)
    with GracefulStop(on_first=forward_to_engine, on_second=kill_engine) as stop:
        with job_lock(rt.settings.home, name_lock_key(spec.name), LockOp.UP):
            existing = None if new else rt.ledger.newest_unfinished(spec.name)
            if existing is not None:
                guard.settle(existing.job_id)  # an engine orphaned by a killed trainctl finishes first
                guard.clear_dead_holders(rt, existing.job_id)  # ...or died holding the lock
            if existing is not None and _is_running(target, existing):
                if existing.state == JobState.PROVISIONING:  # its `up` died after the agent started; we hold the locks
                    seen = target.observe(existing)
                    existing = existing.model_copy(
                        update={"state": JobState.RUNNING, "started_at": existing.started_at or seen.started_at}
                    )
                    rt.ledger.save(existing)
                say(f"job {existing.job_id} is already running; nothing to do (`trainctl logs {existing.job_id} -f`)")
                return UpOutcome(existing, "already-running")
            job_id = existing.job_id if existing is not None else new_job_id(spec.name)
            bind_job(job_id)
            checked = target.preflight(loaded, region=spec.resources.region or rt.settings.default_region, offline=False)
            for line in checked.notices:
                say(f"notice: {line}")
            allocated = checked.loaded.spec  # what the target will launch (root volume, market)
            compiled = compile_job(
                checked.loaded,
                job_id,
                rt.settings,
                hourly_usd=rt.hourly_price(allocated),
                on_demand_hourly_usd=rt.fallback_price(allocated),
            )
            for line in compiled.notices:
                say(f"notice: {line}")
            rt.workspace  # noqa: B018 - find the engine before recording anything
            with job_lock(rt.settings.home, job_lock_key(job_id), LockOp.UP):
                record = _allocate(rt, compiled, target, existing, stop, say, policy_config)
        if detach:
            from orchestrator.lifecycle.watch import spawn_watcher

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


def _allocate(
    rt: Runtime,
    job: CompiledJob,
    target: Target,
    existing: JobRecord | None,
    stop: GracefulStop,
    say: Say,
    policy_config: Path | None,
) -> JobRecord:
    from orchestrator.engine import automation

    log = get_logger(__name__)
    now = time.time()
    record = (
        existing
        or JobRecord(
            job_id=job.job_id,
            name=job.spec.name,
            team=job.spec.team,
            owner=job.spec.owner,
            cost_center=job.spec.cost_center,
            target=job.spec.target,
            created=now,
        )
    ).with_run_closed(now)
    # Limits are for the whole job: the new run gets what earlier runs left of max_runtime and budget.
    job = replace(job, prior_runtime_s=record.runtime_s(now), prior_cost_usd=accrued_cost(record, now))
    record = record.model_copy(
        update={
            "state": JobState.PROVISIONING,
            "reason": None,
            "exit_code": None,
            "ended_at": None,
            "torn_down": False,
            "cost_usd": None,
            "hourly_usd": job.hourly_usd,
            "spec_path": job.spec_path,
            "spec": job.spec.to_document(),
            "started_at": None,
        }
    )
    rt.ledger.save(record)
    verb = "resuming" if existing else "creating"
    say(f"{verb} job {job.job_id} on target {job.spec.target}")
    try:
        if stop.stop_requested:
            raise _stopped(stop)
        stack = rt.workspace.stack(job.job_id, target.program(job), create=True)
        automation.set_config(stack, job.stack_config(), job.secret_config(), tags=job.tags)
        if existing is not None:
            # drop a dead agent (and any pending operation of a crash) from state, so `up` starts a new one
            guard.with_stale_lock_cleared(job.job_id, stack, lambda: automation.refresh(stack, clear_pending_creates=True))
            resources = automation.export_state(stack)["deployment"].get("resources") or []
            for line in stop_strays(job.job_id, live_agent(resources)):
                log.info("job.stray_stopped", detail=line)
        if stop.stop_requested:
            raise _stopped(stop)
        started = time.monotonic()
        packs, configs = engine_policy_args(policy_config, team=job.spec.team)
        policies = PolicyCollector(forward=EngineProgress())
        tagged = automation.start_tagging(stack, job.tags)
        try:
            outputs = automation.up(stack, on_event=policies, policy_packs=packs, policy_configs=configs)
        except TrainctlError as e:
            policies.check(e)  # PolicyBlockedError (exit 3) when a mandatory policy said no
            raise
        finally:
            tagged()
        for violation in policies.check():
            say(f"policy warning: {violation.line()}")
        log.info("job.allocated", seconds=round(time.monotonic() - started, 2))
    except PolicyViolationError as e:
        rt.ledger.save(record.model_copy(update={"state": JobState.FAILED, "reason": "blocked by policy"}))
        teardown_job(rt, job.job_id, requested=JobState.FAILED, reason=e.message, wait_s=60.0)
        raise
    except TrainctlError as e:
        rt.ledger.save(record.model_copy(update={"state": JobState.INTERRUPTED, "reason": _why(stop, e)}))
        if stop.stop_requested:
            _teardown_after_stop(rt, job.job_id, stop, say)
            raise _stopped(stop) from None
        _teardown_after_stop(rt, job.job_id, stop, say, reason=f"allocation failed: {e.message}")
        raise
    record = record.model_copy(
        update={
            "state": JobState.RUNNING,
            "started_at": time.time(),
            "outputs": target.outputs_summary(outputs),
            "hourly_usd": job.run_price(outputs),
        }
    )
    rt.ledger.save(record)
    if stop.stop_requested:
        _teardown_after_stop(rt, job.job_id, stop, say)
        raise _stopped(stop)
    return record


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
    offset = 0
    while True:
        finished = stop.stop_requested or target.observe(record).state in RUN_ENDED
        chunk, offset = target.read_log(record, offset)
        if chunk:
            output.write(chunk)
            output.flush()
            continue
        if not finished:
            time.sleep(rt.settings.poll_interval_s)
            continue
        if stop.stop_requested:
            _teardown_after_stop(rt, record.job_id, stop, say)
            raise _stopped(stop)
        decision = target.relaunch_decision(record)
        if decision.action != "relaunch":
            return tear_down_ended(rt, record, decision, say)
        record = relaunch(rt, job, record, target, decision, stop, say, policy_config)


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
        return _allocate(rt, job, target, record, stop, say, policy_config)


def tear_down_ended(rt: Runtime, record: JobRecord, decision: Decision, say: Say) -> JobRecord:
    """The run ended and is not relaunched: tear the job down (artifacts kept), failed if we gave up on it."""
    if decision.action == "give-up":
        say(f"giving up: {decision.reason}; tearing down {record.job_id} (artifacts are kept)")
        return teardown_job(rt, record.job_id, requested=JobState.FAILED, reason=decision.reason, on_event=EngineProgress())
    say(f"run ended; tearing down {record.job_id} (artifacts are kept)")
    return teardown_job(rt, record.job_id, on_event=EngineProgress())


def _teardown_after_stop(rt: Runtime, job_id: str, stop: GracefulStop, say: Say, *, reason: str | None = None) -> None:
    """After a signal (or a failed allocation): stop the run with a final checkpoint, keep artifacts."""
    say(f"stopping job {job_id}: final checkpoint, then teardown (artifacts are kept)")
    why = reason or f"stopped by signal {stop.signum}"
    try:
        teardown_job(rt, job_id, requested=JobState.INTERRUPTED, reason=why, on_event=EngineProgress(), wait_s=60.0)
    except TrainctlError:
        if not stop.urgent.is_set():
            raise
        say(f"teardown cut short by a second signal: run `trainctl recover {job_id}` to finish it")


def _is_running(target: Target, record: JobRecord) -> bool:
    return record.state in ACTIVE_STATES and target.observe(record).state in RUN_ALIVE


def _stopped(stop: GracefulStop) -> TrainctlError:
    return interrupted(stop.signum or 2, "stopped on request: the job saved a checkpoint; `trainctl up` again resumes it")


def _why(stop: GracefulStop, error: TrainctlError) -> str:
    return f"stopped by signal {stop.signum}" if stop.stop_requested else f"allocation failed: {error.message}"


def forward_to_engine(signum: int) -> None:
    automation = sys.modules.get("orchestrator.engine.automation")
    if automation is not None:  # not imported yet: no engine process can be running
        automation.forward_signal(signum)


def kill_engine(signum: int) -> None:
    automation = sys.modules.get("orchestrator.engine.automation")
    if automation is not None:
        automation.forward_signal(signum, force=True)
