"""Per-job operation locks: one trainctl operation at a time on a job, across processes.

``flock`` on ``$TRAINCTL_HOME/locks/<key>.lock``: the kernel releases it when its holder dies, even by
SIGKILL, so these locks are never stale. The file names the holder (pid and its start time, host,
operation, since) so that a refused operation can say who is in the way.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.agent import procs
from orchestrator.errors import ConflictError

_HELD: set[Path] = set()


@contextmanager
def job_lock(home: Path, key: str, operation: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the lock for ``key`` while the block runs.

    If another process holds it, wait up to ``wait_s`` seconds, then raise ConflictError (exit 4)
    naming the holder.
    """
    directory = home / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key}.lock"
    if path in _HELD:  # re-entered by the holder (e.g. teardown inside a failed `up`)
        yield
        return
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _held(path, key, operation) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        holder = {
            "pid": os.getpid(),
            "start_ticks": procs.start_ticks(os.getpid()),  # with the pid, who holds it (pids get reused)
            "host": socket.gethostname(),
            "operation": operation,
            "since": time.time(),
        }
        handle.write(json.dumps(holder))
        handle.flush()
        _HELD.add(path)
        try:
            yield
        finally:
            _HELD.discard(path)


def lock_holder(home: Path, key: str) -> dict[str, object] | None:
    """Who holds the lock for ``key`` (pid, host, operation, since), or None when nobody does."""
    if not is_locked(home, key):
        return None
    try:
        holder: dict[str, object] = json.loads((home / "locks" / f"{key}.lock").read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return holder


def is_locked(home: Path, key: str) -> bool:
    """Whether a live process holds the lock for ``key`` right now."""
    path = home / "locks" / f"{key}.lock"
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _held(path: Path, key: str, operation: str) -> ConflictError:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(holder["since"])) if "since" in holder else "unknown"
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} ({holder.get('operation', '?')}) since {since}"
    return ConflictError(
        f"cannot {operation} {key}: another trainctl operation is in progress: {who}",
        context={"job": key, "pid": holder.get("pid"), "host": holder.get("host"), "since": since},
        hint="wait for it to finish, or stop that process; the lock is released as soon as it exits",
    )
