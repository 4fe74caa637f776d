"""The engine's stack locks: who holds one (pid, host, since), and which holders are dead.

The engine writes a lock file per update/refresh/destroy under the backend's ``.pulumi/locks/``
(``<org>/<project>/<stack>/<id>.json`` with ``pid``, ``hostname``, ``timestamp``) and names its holder
in the "stack is currently locked" error. Both are read here, nowhere else. The file backend's lock
files are read directly; another backend (S3) will read the same objects through its store.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ConflictError, LockHeldError

_LOCK_OWNER = re.compile(r"created by (?P<who>\S+?)@?(?P<host>[^\s@(]*) \(pid (?P<pid>\d+)\) at (?P<since>[^\n]+)")
RECOVER_HINT = "wait for it to finish; if that process is gone, `trainctl recover JOB` clears the stale lock"


@dataclass(frozen=True)
class EngineLock:
    """One lock file of a job's stack and the engine process that wrote it."""

    job_id: str
    path: Path
    pid: int
    host: str
    since: str

    def held_here(self) -> bool:
        return self.host == socket.gethostname()


def lock_dir(state_url: str) -> Path | None:
    """Where a file backend keeps its lock files (None for other backends)."""
    if not state_url.startswith("file://"):
        return None
    return Path(state_url[len("file://") :]) / ".pulumi" / "locks"


def engine_locks(state_url: str, job_id: str | None = None) -> list[EngineLock]:
    """The lock files of the backend (of ``job_id``'s stack only, when given)."""
    root = lock_dir(state_url)
    found = []
    for path in sorted(root.rglob("*.json")) if root is not None and root.is_dir() else []:
        if job_id is not None and path.parent.name != job_id:
            continue
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = int(holder.get("pid", 0) or 0)
        found.append(EngineLock(path.parent.name, path, pid, str(holder.get("hostname", "")), str(holder.get("timestamp", "?"))))
    return found


def stale_engine_locks(state_url: str, job_id: str | None = None) -> list[EngineLock]:
    """Locks whose holder was an engine on this host that is gone (and no engine works on that stack now).

    An engine dies holding its lock when the trainctl process serving its inline program is killed.
    """
    from orchestrator.agent import procs

    return [
        lock
        for lock in engine_locks(state_url, job_id)
        if lock.held_here() and lock.pid and not procs.is_alive(lock.pid) and not procs.engine_processes(lock.job_id)
    ]


def lock_conflict(operation: str, text: str, context: Mapping[str, str], held: list[EngineLock] | None = None) -> ConflictError:
    """A ConflictError naming who holds the lock (pid, host, since when): from the engine's message, else the lock file."""
    owner = dict(context)
    match = _LOCK_OWNER.search(text)
    if match:
        owner.update(pid=match["pid"], host=match["host"] or match["who"], since=match["since"].strip())
    elif held:
        owner.update(pid=str(held[0].pid), host=held[0].host, since=held[0].since)
    if "pid" not in owner:
        return ConflictError(f"{operation}: another operation holds the stack's lock", context=owner, hint=RECOVER_HINT)
    detail = f"locked by pid {owner['pid']} on {owner['host']} since {owner['since']}"
    return LockHeldError(f"{operation}: {detail}", context=owner, hint=RECOVER_HINT)
