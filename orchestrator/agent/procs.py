"""Process facts from /proc: identity (pid + start time) and whole-session teardown."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None when it does not exist)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int, ticks: int | None = None) -> bool:
    """Whether ``pid`` runs and is the same process as when ``ticks`` was recorded (not a zombie)."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def is_reused(pid: int, ticks: int | None) -> bool:
    """Whether ``pid`` now belongs to another process than the one started at ``ticks``.

    False when nothing runs under ``pid`` or when no start time was recorded (nothing to compare).
    """
    now = start_ticks(pid)
    return ticks is not None and now is not None and now != ticks


def describe_dead(pid: int, ticks: int | None) -> str:
    """Why the process recorded as (``pid``, ``ticks``) is not running, for people."""
    if is_reused(pid, ticks):
        return f"pid {pid} now belongs to another process"
    return f"pid {pid} has exited"


def session_members(sid: int) -> list[int]:
    """Every live process whose session id is ``sid``."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] not in ("Z", "X") and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def scan(part: str) -> Iterator[tuple[int, list[bytes]]]:
    """(pid, fields) of every process we may read, where fields is ``/proc/PID/<part>`` (``cmdline`` or
    ``environ``) split at NULs; processes that vanish or deny access are skipped."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / part).read_bytes().split(b"\0")
        except OSError:
            continue
        yield int(entry.name), fields


def processes_with_env(name: str, value: str) -> list[int]:
    """Pids whose environment has ``name=value`` (how a job's processes are found after a crash)."""
    needle = f"{name}={value}".encode()
    me = os.getpid()
    return [pid for pid, environ in scan("environ") if pid != me and needle in environ and is_alive(pid)]


def terminate_session(sid: int, grace_s: float, *, leader_ticks: int | None = None) -> bool:
    """SIGTERM every process of session ``sid``, wait up to ``grace_s``, then SIGKILL the rest.

    ``leader_ticks`` (the leader's recorded start time) guards against a recycled pid: when ``sid``
    now belongs to another process, that is another session and nothing is signalled. When the leader
    is gone, the members left of its session are (a session id is not reused while a member lives).
    Returns True when something had to be killed with SIGKILL.
    """
    if is_reused(sid, leader_ticks):
        return False
    _signal_all(session_members(sid), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not session_members(sid):
            return False
        time.sleep(0.05)
    survivors = session_members(sid)
    _signal_all(survivors, signal.SIGKILL)
    end = time.monotonic() + 5
    while session_members(sid) and time.monotonic() < end:
        time.sleep(0.05)
    return bool(survivors)


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            continue


def engine_processes(stack: str) -> list[int]:
    """Live ``pulumi`` engine processes working on ``stack`` (found by their command line)."""
    name = stack.encode()
    return [pid for pid, argv in scan("cmdline") if argv[0].endswith(b"pulumi") and name in argv and is_alive(pid)]
