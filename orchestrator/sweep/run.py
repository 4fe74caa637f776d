"""Launching a sweep: one detached job per point (`up --detach`), at most ``max_parallel`` at once.

Each point is launched through the lifecycle's `up` with the point as the job's sweep membership, so
each job is its own stack tagged ``trainctl:sweep-id``, followed by its own watcher, and torn down
when its run ends. Launches run in worker threads (an allocation keeps an engine busy for seconds),
each point under its own name lock; this process decides when to launch the next. A job holds its
slot from its launch until it is torn down. One process runs a sweep at a time (the sweep's lock: a
second one exits 4).

Resuming: a point whose newest job succeeded or failed is finished and not run again; a point whose
job was interrupted resumes that job (from its newest checkpoint), any other point starts a job.

A signal stops launching (it reaches the engines of the launches under way, whose jobs are torn down
and recorded ``interrupted``); running jobs save a checkpoint and are torn down, recorded
``interrupted`` too (so running the sweep again resumes them), and the sweep ends with 130 (143) once
none of their processes is left. A second signal cuts the waiting short (`trainctl recover JOB`
finishes what is left).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import InterruptedBySignal, PolicyViolationError, TrainctlError
from orchestrator.jobs.locks import is_locked, job_lock
from orchestrator.jobs.records import JobRecord, SweepMember
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.query import current
from orchestrator.lifecycle.signals import GracefulStop
from orchestrator.lifecycle.stopping import Say, graceful_stop, stopped, teardown_after_stop
from orchestrator.lifecycle.watch import stop_watcher
from orchestrator.logs import get_logger
from orchestrator.sweep.grid import Grid, Point
from orchestrator.vocabulary import ACTIVE_STATES, JobState, LockOp, job_lock_key, sweep_lock_key, watch_lock_key

FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED})  # a point that ended so is not run again


@dataclass
class SweepProgress:
    """What the sweep did: which points were finished before it started, which jobs it launched."""

    resumed_finished: list[str] = field(default_factory=list)  # point keys already finished when it started
    launched: list[str] = field(default_factory=list)  # job ids launched (or resumed) by this run


def point_jobs(rt: Runtime, sweep_id: str) -> dict[str, JobRecord]:
    """The newest job of each point of the sweep (by point key); empty for a sweep never run."""
    from orchestrator.sweep.grid import point_key

    newest: dict[str, JobRecord] = {}
    for record in rt.ledger.all():  # newest first
        if record.sweep is not None and record.sweep.sweep_id == sweep_id:
            newest.setdefault(point_key(record.sweep.params), record)
    return newest


def run_sweep(rt: Runtime, grid: Grid, *, max_parallel: int, say: Say, policy_config: Path | None = None) -> SweepProgress:
    """Run every unfinished point of ``grid`` to its end, at most ``max_parallel`` jobs at once.

    Jobs are launched from worker threads (allocation takes the engine seconds per job); the main thread
    keeps the signal handlers and the count, and a signal reaches the engines of every launch under way."""
    progress = SweepProgress()
    home = rt.settings.home
    with job_lock(home, sweep_lock_key(grid.sweep_id), LockOp.SWEEP), graceful_stop() as stop:
        pending = _pending(rt, grid, progress, say)
        rt.workspace  # noqa: B018 - find the engine once, before the launching threads need it
        active: list[str] = []
        launching: dict[Future[str | None], Point] = {}
        with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="sweep-launch") as pool:
            try:
                while (pending or active or launching) and not stop.stop_requested:
                    active += _launched(launching, progress, rt, wait=False)
                    active = [job_id for job_id in active if not _settled(rt, job_id, say)]
                    while pending and len(active) + len(launching) < max_parallel and not stop.stop_requested:
                        point = pending.pop(0)
                        launching[pool.submit(_launch, rt, grid, point, stop, say, policy_config)] = point
                    stop.wait(rt.settings.poll_interval_s)
            finally:
                active += _launched(launching, progress, rt, wait=True)
                if stop.stop_requested:
                    _stop_running(rt, active, stop, say)
        _wait_for_processes(rt, progress.launched, stop)
        if stop.stop_requested:
            raise stopped(stop)
    return progress


def _pending(rt: Runtime, grid: Grid, progress: SweepProgress, say: Say) -> list[Point]:
    """The points still to run, in grid order; the finished ones are noted in ``progress``."""
    known = point_jobs(rt, grid.sweep_id)
    pending: list[Point] = []
    for point in grid.points:
        record = known.get(point.key)
        if record is not None and record.state in FINISHED:
            progress.resumed_finished.append(point.key)
        else:
            pending.append(point)
    if progress.resumed_finished:
        say(f"sweep {grid.sweep_id}: {len(progress.resumed_finished)} of {len(grid.points)} points already finished")
    return pending


def _launched(launching: dict[Future[str | None], Point], progress: SweepProgress, rt: Runtime, *, wait: bool) -> list[str]:
    """The job ids of the launches that are over (all of them with ``wait``), removed from ``launching``."""
    started: list[str] = []
    for future in [f for f in launching if wait or f.done()]:
        del launching[future]
        job_id = future.result()  # _launch reports trainctl's errors itself; anything else is a bug
        if job_id is not None:
            progress.launched.append(job_id)
            started.append(job_id)
    return started


def _launch(rt: Runtime, grid: Grid, point: Point, stop: GracefulStop, say: Say, policy_config: Path | None) -> str | None:
    """Start (or resume) the job of ``point`` detached; its job id, or None when it could not start.

    A point refused by a policy, or whose launch failed, is reported and the sweep goes on; a launch
    cut short by a signal has torn its job down (recorded interrupted) itself."""
    from orchestrator.lifecycle.up import up_job

    member = SweepMember(sweep_id=grid.sweep_id, params=point.params)
    say(f"point {point.index + 1}/{len(grid.points)}: {point.label()}")
    try:
        outcome = up_job(rt, point.loaded, detach=True, new=False, say=say, policy_config=policy_config, sweep=member, stop=stop)
    except InterruptedBySignal:
        return None
    except PolicyViolationError as e:
        say(f"point {point.label()} blocked by policy: {e.message}")
        return None
    except TrainctlError as e:
        get_logger(__name__).warning("sweep.launch_failed", point=point.label(), error=e.message)
        say(f"point {point.label()} could not start: {e.message}")
        return None
    return outcome.record.job_id


def _settled(rt: Runtime, job_id: str, say: Say) -> bool:
    """Whether the job has ended and holds no resources (torn down, or left to `down` by its watcher)."""
    record = rt.ledger.load(job_id)
    if record is None:
        return True
    if not record.torn_down:
        record = current(rt, record)
        if record.state in ACTIVE_STATES or _busy(rt, job_id):
            return False
        say(f"job {job_id}: {record.state}, but not torn down: `trainctl down {job_id}` removes it")
        return True
    say(f"job {job_id}: {record.state}" + (f" ({record.reason})" if record.reason else ""))
    stop_watcher(rt, job_id)  # its watcher would notice only at its next look
    return True


def _busy(rt: Runtime, job_id: str) -> bool:
    """Whether an operation or the watcher is still at work on the job."""
    home = rt.settings.home
    return is_locked(home, job_lock_key(job_id)) or is_locked(home, watch_lock_key(job_id))


def _stop_running(rt: Runtime, job_ids: list[str], stop: GracefulStop, say: Say) -> None:
    """After a signal: each running job saves a checkpoint and is torn down, recorded interrupted."""
    say(f"stopping the sweep: {len(job_ids)} running job(s) save a checkpoint and are torn down")
    for job_id in job_ids:
        record = rt.ledger.load(job_id)
        if record is None or record.torn_down:
            continue
        if stop.urgent.is_set():
            say(f"job {job_id} left running by a second signal: `trainctl cancel {job_id}` stops it")
            continue
        try:
            teardown_after_stop(rt, job_id, stop, say, reason=f"sweep stopped by signal {stop.signum}")
        except TrainctlError as e:
            say(f"job {job_id} could not be torn down: {e.message} (`trainctl recover {job_id}`)")


def _wait_for_processes(rt: Runtime, job_ids: list[str], stop: GracefulStop) -> None:
    """Wait until no process of the jobs is left (agents, their finalize, watchers), as `cancel` does; a
    second signal skips what is left of the waiting."""
    from orchestrator.lifecycle.stop import wait_for_processes

    for job_id in job_ids:
        if stop.urgent.is_set():
            return
        wait_for_processes(rt, job_id)
