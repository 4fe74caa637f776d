"""Acting on a whole sweep: `cancel --sweep ID`, `down --sweep ID`, and a detached sweep's runner.

A sweep's jobs are the records carrying its id. While a process runs the sweep (attached, or the
runner of `sweep --detach`) it would launch the next point as soon as one is cancelled, so it is
stopped first: it is sent SIGTERM and stops as on Ctrl-C (its running jobs save a checkpoint and are
torn down, recorded ``interrupted``); then every job left is cancelled or torn down one by one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestrator.errors import ConflictError
from orchestrator.jobs.locks import is_locked, lock_holder
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.vocabulary import sweep_lock_key

RUNNER_STOP_WAIT_S = 300.0


def sweep_log(rt: Runtime, sweep_id: str) -> Path:
    """Where the runner of a detached sweep writes what it does."""
    return rt.settings.home / "logs" / f"{sweep_id}.sweep.log"


def spawn_runner(rt: Runtime, sweep_id: str, spec: Path, params: Sequence[str], options: Mapping[str, str | Path | None]) -> Path:
    """Start ``trainctl sweep SPEC --param ... --OPTION VALUE ...`` (attached: the options given, without
    ``--detach``, with ``--yes``) in its own session; return its log file.

    It refuses at once (exit 4) when a process already runs this sweep."""
    holder = lock_holder(rt.settings.home, sweep_lock_key(sweep_id))
    if holder is not None:
        raise ConflictError(
            f"sweep {sweep_id} is already running (pid {holder.get('pid', '?')})",
            context={"sweep_id": sweep_id},
            hint=f"`trainctl ls --sweep {sweep_id}` follows it; `trainctl cancel --sweep {sweep_id}` stops it",
        )
    argv = [str(spec.resolve()), *(f"--param={p}" for p in params), "--yes"]
    argv += [
        f"--{name}={Path(value).resolve() if isinstance(value, Path) else value}" for name, value in options.items() if value
    ]
    log_path = sweep_log(rt, sweep_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "sweep", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return log_path


def stop_runner(rt: Runtime, sweep_id: str, say: Callable[[str], None]) -> None:
    """SIGTERM the process running ``sweep_id`` (if one does) and wait until it has stopped."""
    from orchestrator.agent.procs import is_alive

    home = rt.settings.home
    holder = lock_holder(home, sweep_lock_key(sweep_id))
    if holder is None:
        return
    pid, ticks = holder.get("pid"), holder.get("start_ticks")
    if isinstance(pid, int) and pid != os.getpid() and is_alive(pid, ticks if isinstance(ticks, int) else None):
        say(f"stopping the process running sweep {sweep_id} (pid {pid}): its running jobs save a checkpoint")
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + RUNNER_STOP_WAIT_S
    while is_locked(home, sweep_lock_key(sweep_id)):
        if time.monotonic() > deadline:
            raise ConflictError(f"the process running sweep {sweep_id} did not stop", context={"pid": pid})
        time.sleep(0.2)


def cancel_sweep(rt: Runtime, sweep_id: str, say: Callable[[str], None]) -> list[JobRecord]:
    """Stop the sweep's runner, then cancel each of its jobs that is not torn down; every job's record."""
    from orchestrator.lifecycle.stop import cancel_job

    records = rt.ledger.of_sweep(sweep_id)  # NotFoundError (exit 2) for an unknown sweep, before anything
    stop_runner(rt, sweep_id, say)
    return [cancel_job(rt, r.job_id) for r in records]


def down_sweep(
    rt: Runtime,
    sweep_id: str,
    *,
    purge: bool,
    confirm_purge: Callable[[list[JobRecord]], None] | None,
    say: Callable[[str], None],
) -> list[tuple[JobRecord, list[str]]]:
    """Stop the sweep's runner, then tear each of its jobs down (``purge``: delete their artifacts too)."""
    from orchestrator.lifecycle.stop import down_job

    records = rt.ledger.of_sweep(sweep_id)
    if purge and confirm_purge is not None:
        confirm_purge(records)
    stop_runner(rt, sweep_id, say)
    return [down_job(rt, r.job_id, purge=purge) for r in records]
