"""The engine's stack locks: who holds one (user, host, pid, since), and which holders are dead.

The engine writes a lock object per update/refresh/destroy under the backend's ``.pulumi/locks/``
(``<org>/<project>/<stack>/<id>.json`` with ``pid``, ``username``, ``hostname``, ``timestamp``) and names
its holder in the "stack is currently locked" error. Both are read here, nowhere else, whatever the
kind of backend (a directory, an S3 bucket shared by a team).

Whether a holder is alive can be known only on its own host: a lock held by a dead process on this
host is stale and may be cleared; a lock held on another host is neither stale nor live as far as
this machine can tell, so clearing it is a person's decision (`trainctl recover --yes`).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.errors import ConflictError, LockHeldError

_LOCK_OWNER = re.compile(r"created by (?P<who>\S+?)@?(?P<host>[^\s@(]*) \(pid (?P<pid>\d+)\) at (?P<since>[^\n]+)")
RECOVER_HINT = "wait for it to finish; if that process is gone, `trainctl recover JOB` clears the stale lock"


@dataclass(frozen=True)
class EngineLock:
    """One lock object of a job's stack and the engine process that wrote it."""

    job_id: str
    key: str  # where the lock object is, for messages
    pid: int
    host: str
    since: str
    user: str = ""

    def held_here(self) -> bool:
        return self.host == socket.gethostname()

    def alive_here(self) -> bool:
        """Held by a live process of this host (whoever's: another home's engine counts)."""
        from orchestrator.agent import procs

        return self.held_here() and bool(self.pid) and procs.is_alive(self.pid)

    def holder(self) -> str:
        """``user on host (pid N) since T``: what a refused user is told."""
        who = f"{self.user} on {self.host}" if self.user else self.host
        return f"{who} (pid {self.pid}) since {self.since}"


def engine_locks(state_url: str, job_id: str | None = None) -> list[EngineLock]:
    """The lock objects of the backend (of ``job_id``'s stack only, when given)."""
    found = []
    for key, data in _lock_objects(state_url, job_id):
        try:
            holder = json.loads(data)
        except ValueError:
            continue
        if not isinstance(holder, dict):
            continue
        found.append(
            EngineLock(
                job_id=key.rsplit("/", 2)[-2],
                key=key,
                pid=int(holder.get("pid", 0) or 0),
                host=str(holder.get("hostname", "")),
                since=str(holder.get("timestamp", "?")),
                user=str(holder.get("username", "")),
            )
        )
    return found


def _lock_objects(state_url: str, job_id: str | None) -> list[tuple[str, bytes]]:
    """``(where, content)`` of each lock object under the backend's ``.pulumi/locks/``."""
    from orchestrator.store import ENGINE_DIR, STORES, backend_store

    if state_url.split("://", 1)[0].lower() not in STORES:
        return []
    store = backend_store(state_url, ENGINE_DIR)
    found = []
    for info in store.list("locks/"):
        if not info.key.endswith(".json") or (job_id is not None and info.key.rsplit("/", 2)[-2] != job_id):
            continue
        data = store.read(info.key)
        if data is not None:  # else released while we looked
            found.append((f"{store.location}/{info.key}", data))
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
    """A ConflictError naming the lock's holder (user, host, pid, since when): from the engine's text, else the lock object."""
    owner = dict(context)
    match = _LOCK_OWNER.search(text)
    if match:
        user = match["who"] if match["host"] else ""
        lock = EngineLock(
            context.get("job_id", ""), "", int(match["pid"]), match["host"] or match["who"], match["since"].strip(), user
        )
    elif held:
        lock = held[0]
    else:
        return ConflictError(f"{operation}: another operation holds the stack's lock", context=owner, hint=RECOVER_HINT)
    owner.update(pid=str(lock.pid), host=lock.host, since=lock.since)
    if lock.user:
        owner["user"] = lock.user
    return LockHeldError(f"{operation}: locked by {lock.holder()}", context=owner, hint=RECOVER_HINT)
