"""Guards around engine operations on a job: orphaned engines and stale locks.

An engine whose trainctl was killed gets SIGINT (see engine/automation.py) and finishes its in-flight
work; the next operation on that job waits for it instead of failing on its lock. A lock whose holder
is a dead process on this host is stale and is cleared, so re-running an interrupted command works.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.errors import ConflictError
from orchestrator.logs import get_logger

T = TypeVar("T")
ORPHAN_WAIT_S = 120.0


def orphaned_engines(job_id: str) -> list[int]:
    """Engine processes working on ``job_id`` that this process did not start."""
    from orchestrator.agent.procs import engine_processes

    return [pid for pid in engine_processes(job_id) if _parent(pid) != os.getpid()]


def settle(job_id: str, timeout_s: float = ORPHAN_WAIT_S) -> list[int]:
    """Wait until no orphaned engine works on ``job_id``; ConflictError (exit 4) if one outlives the wait."""
    first = pids = orphaned_engines(job_id)
    if pids:
        get_logger(__name__).info("engine.orphans.waiting", job_id=job_id, pids=pids)
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = orphaned_engines(job_id)
    if not pids:
        from orchestrator.gc.local import reap_orphaned_plugins
        from orchestrator.settings import get_settings

        reaped = reap_orphaned_plugins(get_settings().home)
        if reaped:
            get_logger(__name__).info("engine.plugins.reaped", job_id=job_id, pids=reaped)
    if pids:
        raise ConflictError(
            f"engine process(es) {', '.join(map(str, pids))} still work on {job_id}",
            context={"job_id": job_id, "pids": ",".join(map(str, pids))},
            hint="wait for them to finish, or stop them (kill -INT PID), then retry",
        )
    return first


def clear_dead_holders(rt: Any, job_id: str) -> bool:
    """Remove ``job_id``'s engine lock if its holder died (and reap that engine's orphaned plugins)."""
    from orchestrator.engine import automation
    from orchestrator.gc.local import reap_engine_group, stale_engine_locks

    stale = stale_engine_locks(rt.settings.state_url, job_id)
    if not stale:
        return False
    automation.cancel(rt.workspace.stack(job_id, _no_program, create=False))
    for _, _, pid, since in stale:
        reaped = reap_engine_group(pid)
        get_logger(__name__).warning("engine.lock.stale_cleared", job_id=job_id, holder_pid=pid, since=since, reaped=reaped)
    return True


def _no_program() -> None:
    """Clearing a lock runs no program."""


def with_stale_lock_cleared(job_id: str, stack: Any, operation: Callable[[], T]) -> T:
    """Run ``operation``; if the stack's lock belongs to a dead process on this host, clear it and retry once."""
    from orchestrator.engine import automation

    try:
        return operation()
    except ConflictError as e:
        if not _holder_dead(e.context) or orphaned_engines(job_id):
            raise
        get_logger(__name__).warning("engine.lock.stale_cleared", job_id=job_id, holder_pid=e.context.get("pid"))
        automation.cancel(stack)
        return operation()


def _holder_dead(context: dict[str, object]) -> bool:
    from orchestrator.agent.procs import is_alive

    pid, host = context.get("pid"), context.get("host")
    if not isinstance(pid, str) or not pid.isdigit():
        return False
    return host in (socket.gethostname(), "") and not is_alive(int(pid))


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[1])
