"""Allocation: bring a job's stack up (a new job, a resumed one, a relaunch after a preemption) and record the run.

The job record says ``provisioning`` while the stack goes up and ``running`` once the engine has
started the run. A policy refusal tears down and records ``failed`` (exit 3); any other failure, or a
signal, tears down with artifacts kept and records ``interrupted``, so `up` again resumes the job.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator import tracing
from orchestrator.compile import CompiledJob
from orchestrator.cost.accrual import accrued_cost
from orchestrator.errors import ConflictError, PolicyViolationError, TrainctlError
from orchestrator.jobs.records import JobRecord, who_starts
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.progress import EngineProgress
from orchestrator.lifecycle.recover import live_agents, stop_strays
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.lifecycle.stopping import Say, stopped, teardown_after_stop
from orchestrator.lifecycle.teardown import teardown_job
from orchestrator.logs import get_logger
from orchestrator.metrics import journal
from orchestrator.targets.base import Target
from orchestrator.vocabulary import JobState


def allocate(
    rt: Runtime,
    job: CompiledJob,
    target: Target,
    existing: JobRecord | None,
    stop: GracefulStop,
    say: Say,
    policy_config: Path | None,
) -> JobRecord:
    """Put ``job``'s stack up (``existing``: the job's record when it is resumed or relaunched); return the running record."""
    asked = time.time()
    record, job = _provisioning(rt, job, existing)
    say(f"{'resuming' if existing else 'creating'} job {job.job_id} on target {job.spec.target}")
    try:
        with tracing.span("allocate", **{"trainctl.resumed": existing is not None}):
            outputs = _stack_up(rt, job, target, existing is not None, stop, say, policy_config)
    except PolicyViolationError as e:
        rt.ledger.save(record.model_copy(update={"state": JobState.BLOCKED, "reason": "blocked by policy"}))
        teardown_job(rt, job.job_id, requested=JobState.BLOCKED, reason=e.message, wait_s=60.0)
        raise
    except ConflictError:
        raise  # another operation (perhaps a teammate's) holds the stack: its job is not ours to tear down
    except TrainctlError as e:
        why = f"stopped by signal {stop.signum}" if stop.stop_requested else f"allocation failed: {e.message}"
        rt.ledger.save(record.model_copy(update={"state": JobState.INTERRUPTED, "reason": why}))
        if stop.stop_requested:
            teardown_after_stop(rt, job.job_id, stop, say)
            raise stopped(stop) from None
        teardown_after_stop(rt, job.job_id, stop, say, reason=why)
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
    _record_start(record, asked, first=existing is None)
    if stop.stop_requested:
        teardown_after_stop(rt, job.job_id, stop, say)
        raise stopped(stop)
    return record


def _record_start(record: JobRecord, asked: float, *, first: bool) -> None:
    """Metrics: how long this allocation took until the run started; a new job counts as started."""
    seconds = (record.started_at or asked) - asked
    journal.record("trainctl_resource_allocation_duration_seconds", seconds, job_id=record.job_id, target=record.target)
    if first:
        journal.record("trainctl_training_jobs_started_total", job_id=record.job_id, target=record.target, team=record.team)


def _provisioning(rt: Runtime, job: CompiledJob, existing: JobRecord | None) -> tuple[JobRecord, CompiledJob]:
    """The job's record in state ``provisioning`` (saved), and the job with what earlier runs used of its limits."""
    now = time.time()
    spec = job.spec
    record = (
        existing
        or JobRecord(
            job_id=job.job_id,
            name=spec.name,
            team=spec.team,
            owner=spec.owner,
            cost_center=spec.cost_center,
            target=spec.target,
            created=now,
            started_by=who_starts(),
            region=job.region,
            sweep=job.sweep,
        )
    ).with_run_closed(now)
    # Limits are for the whole job: the new run gets what earlier runs left of max_runtime and budget.
    job = replace(job, prior_runtime_s=record.runtime_s(now), prior_cost_usd=accrued_cost(record, now))
    record = record.model_copy(
        update={
            "state": JobState.PROVISIONING,
            "reason": None,
            "stop_requested": None,
            "exit_code": None,
            "ended_at": None,
            "torn_down": False,
            "cost_usd": None,
            "region": job.region,
            "prices": job.prices,
            "hourly_usd": job.hourly_usd,
            "spec_path": job.spec_path,
            "spec": spec.to_document(),
            "started_at": None,
        }
    )
    rt.ledger.save(record)
    return record, job


def _stack_up(
    rt: Runtime, job: CompiledJob, target: Target, resumed: bool, stop: GracefulStop, say: Say, policy_config: Path | None
) -> dict[str, Any]:
    """Configure the job's stack and run ``up`` on it (a resumed job's dead agent is dropped from state first)."""
    from orchestrator.engine.jobstack import JobStack
    from orchestrator.policy import PolicyCollector, engine_policy_args

    log = get_logger(__name__)
    if stop.stop_requested:
        raise stopped(stop)
    # The agent's spans join this trace, under the span of the allocation that starts it.
    job = replace(job, trace=tracing.agent_context(job_id=job.job_id, target=job.spec.target, team=job.spec.team))
    program = target.program(job)
    if resumed:
        opened = JobStack.open(rt.workspace, job.job_id, program, create=True)
    else:
        opened = JobStack.create(rt.workspace, job.job_id, program)
    with opened as stack:
        stack.configure(job.stack_config(), job.secret_config(), tags=job.tags)
        if resumed:  # drop a dead agent (and any pending operation of a crash) from state, so `up` starts a new one
            stack.refresh(clear_pending_creates=True)
            for line in stop_strays(job.job_id, live_agents(stack.resources())):
                log.info("job.stray_stopped", detail=line)
        if stop.stop_requested:
            raise stopped(stop)
        started = time.monotonic()
        with tracing.span("policy evaluation", **{"trainctl.policy.mode": "engine"}):
            packs, configs = engine_policy_args(policy_config, team=job.spec.team, owner=job.spec.owner, target=job.spec.target)
        policies = PolicyCollector(forward=EngineProgress())
        try:
            outputs = stack.up(on_event=policies, policy_packs=packs, policy_configs=configs)
        except TrainctlError as e:
            policies.check(e)  # PolicyBlockedError (exit 3) when a mandatory policy said no
            raise
    warnings = policies.check()
    for violation in warnings:
        say(f"policy warning: {violation.line()}")
    log.info("job.allocated", seconds=round(time.monotonic() - started, 2))
    return outputs
