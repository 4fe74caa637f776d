"""Stopping on a signal: forward it to the engine, tear the job down (artifacts kept), exit 130/143."""

from __future__ import annotations

import sys
from collections.abc import Callable

from orchestrator.errors import TrainctlError, interrupted
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.progress import EngineProgress
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.lifecycle.teardown import teardown_job
from orchestrator.vocabulary import JobState

Say = Callable[[str], None]


def graceful_stop() -> GracefulStop:
    """Signal handling for an operation that runs the engine: the first signal is forwarded, a second kills it."""
    return GracefulStop(on_first=forward_to_engine, on_second=kill_engine)


def teardown_after_stop(rt: Runtime, job_id: str, stop: GracefulStop, say: Say, *, reason: str | None = None) -> None:
    """After a signal (or a failed allocation): stop the run with a final checkpoint, keep artifacts."""
    say(f"stopping job {job_id}: final checkpoint, then teardown (artifacts are kept)")
    why = reason or f"stopped by signal {stop.signum}"
    record = rt.ledger.load(job_id)
    if record is not None:  # should a second signal cut the teardown short, `recover` finishes this stop
        rt.ledger.save(record.model_copy(update={"stop_requested": why}))
    try:
        teardown_job(rt, job_id, requested=JobState.INTERRUPTED, reason=why, on_event=EngineProgress(), wait_s=60.0)
    except TrainctlError:
        if not stop.urgent.is_set():
            raise
        say(f"teardown cut short by a second signal: run `trainctl recover {job_id}` to finish it")


def stopped(stop: GracefulStop) -> TrainctlError:
    """The error a stopped operation ends with (exit 130 or 143)."""
    return interrupted(stop.signum or 2, "stopped on request: the job saved a checkpoint; `trainctl up` again resumes it")


def forward_to_engine(signum: int) -> None:
    automation = sys.modules.get("orchestrator.engine.automation")
    if automation is not None:  # not imported yet: no engine process can be running
        automation.forward_signal(signum)


def kill_engine(signum: int) -> None:
    automation = sys.modules.get("orchestrator.engine.automation")
    if automation is not None:
        automation.forward_signal(signum, force=True)
