"""Engine processes a killed trainctl left behind: orphaned engines still finishing, and their plugins.

An engine whose trainctl was killed gets SIGINT (see engine/automation.py) and finishes its in-flight
work; the next operation on that job waits for it (:func:`settle`) instead of failing on its lock.
Plugins (``pulumi-resource-*``, ``pulumi-language-*``, the dynamic provider ``-m pulumi.dynamic``) and
trainctl's policy pack (an executable analyzer served by ``policies/pack.py``) whose engine is gone
would wait forever: they are reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from orchestrator.agent import procs
from orchestrator.errors import ConflictError
from orchestrator.logs import get_logger

ORPHAN_WAIT_S = 120.0
# ``policies/pack.py`` also matches the copy an installed trainctl serves (``orchestrator/_policies/pack.py``).
_ENGINE_CHILD_MARKERS = (b"pulumi", b"policies/pack.py")


def orphaned_engines(job_id: str) -> list[int]:
    """Engine processes working on ``job_id`` whose trainctl is gone.

    An engine whose parent is a live trainctl process (this one, or another user's or home's `up`
    on a shared backend) is no orphan: it holds the stack's lock and the next operation is refused
    naming it (exit 4), rather than made to wait for it.
    """
    return [pid for pid in procs.engine_processes(job_id) if not _started_by_live_trainctl(pid)]


def _started_by_live_trainctl(pid: int) -> bool:
    parent = _parent(pid)
    if parent == os.getpid():
        return True
    if parent is None or parent <= 1:
        return False
    try:
        argv = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith((b"trainctl", b"orchestrator")) for part in argv[:3])


def settle(job_id: str, home: Path, timeout_s: float = ORPHAN_WAIT_S) -> list[int]:
    """Wait until no orphaned engine works on ``job_id``, then reap orphaned plugins of ``home``.

    Returns the engines waited for; ConflictError (exit 4) if one outlives the wait.
    """
    first = pids = orphaned_engines(job_id)
    if pids:
        get_logger(__name__).info("engine.orphans.waiting", job_id=job_id, pids=pids)
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = orphaned_engines(job_id)
    if pids:
        raise ConflictError(
            f"engine process(es) {', '.join(map(str, pids))} still work on {job_id}",
            context={"job_id": job_id, "pids": ",".join(map(str, pids))},
            hint="wait for them to finish, or stop them (kill -INT PID), then retry",
        )
    reaped = reap_orphaned_plugins(home)
    if reaped:
        get_logger(__name__).info("engine.plugins.reaped", job_id=job_id, pids=reaped)
    return first


def orphaned_plugins(home: Path) -> list[int]:
    """Engine plugin and policy-pack processes of this home whose engine is gone (re-parented to init).

    ``PULUMI_HOME`` in a plugin's environment says which trainctl home it serves.
    """
    mine = f"PULUMI_HOME={home / 'pulumi-home'}".encode()
    found = []
    for pid, environ in procs.scan("environ"):
        if mine not in environ:
            continue
        try:
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == "1" and any(marker in cmdline for marker in _ENGINE_CHILD_MARKERS):
            found.append(pid)
    return found


def reap_orphaned_plugins(home: Path) -> list[int]:
    """Kill :func:`orphaned_plugins`; return their pids."""
    reaped = orphaned_plugins(home)
    for pid in reaped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return reaped


def reap_engine_group(pid: int) -> list[int]:
    """Kill the plugin processes a dead engine left behind: its process group (the engine led its own).

    Nothing when a live process has that pid: the engine's pid was reused, so the group is someone else's
    (a group id is not reused while a member lives, so no plugin of the dead engine can be in it).
    """
    if procs.is_alive(pid):
        return []
    reaped = []
    for entry in procs.PROC.iterdir():
        if not entry.name.isdigit():
            continue
        member = int(entry.name)
        try:
            in_group = os.getpgid(member) == pid
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ProcessLookupError):
            continue
        if in_group and b"pulumi" in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
            reaped.append(member)
    return reaped


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[1])
