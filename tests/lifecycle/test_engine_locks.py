"""Lock-holder naming at the engine seam: from the engine's message, else from the backend's lock file."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from orchestrator.engine.locks import engine_locks, lock_conflict, stale_engine_locks
from orchestrator.errors import ConflictError, ExitCode, LockHeldError

ENGINE_TEXT = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the "
    "lock file with `pulumi cancel`.\n  file:///state/.pulumi/locks/organization/trainctl/job-1/abc.json: "
    "created by root@box (pid 4242) at 2026-12-01T10:00:00Z\n"
)


def _lock(state: Path, job_id: str, pid: int, host: str) -> Path:
    directory = state / ".pulumi" / "locks" / "organization" / "trainctl" / job_id
    directory.mkdir(parents=True)
    path = directory / "0f0f0f0f-0000-4000-8000-000000000000.json"
    path.write_text(json.dumps({"pid": pid, "username": "root", "hostname": host, "timestamp": "2026-12-01T10:00:00Z"}))
    return path


def test_the_engine_message_names_the_holder() -> None:
    """The engine's "currently locked" text becomes exit 4 naming user, host, pid and since when."""
    error = lock_conflict("tearing down", ENGINE_TEXT, {"job_id": "job-1"})
    assert isinstance(error, LockHeldError) and error.exit_code == ExitCode.CONFLICT
    assert error.context == {"job_id": "job-1", "pid": "4242", "host": "box", "since": "2026-12-01T10:00:00Z", "user": "root"}
    assert "locked by root on box (pid 4242) since 2026-12-01T10:00:00Z" in error.message


def test_a_lock_file_names_the_holder_when_the_message_does_not(tmp_path: Path) -> None:
    """A backend lock file (what an S3 backend offers too) names the holder when the engine's text does not."""
    _lock(tmp_path, "job-2", 777, "other-host")
    held = engine_locks(f"file://{tmp_path}", "job-2")
    error = lock_conflict("allocating", "conflict: update in progress", {"job_id": "job-2"}, held)
    assert isinstance(error, LockHeldError)
    assert (error.context["pid"], error.context["host"], error.context["user"]) == ("777", "other-host", "root")
    anonymous = lock_conflict("allocating", "conflict: update in progress", {"job_id": "job-2"})
    assert type(anonymous) is ConflictError and anonymous.exit_code == ExitCode.CONFLICT


def test_only_locks_of_dead_holders_on_this_host_are_stale(tmp_path: Path) -> None:
    """A dead pid on this host is stale; a live pid, or another host's, is not."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    _lock(tmp_path, "dead-job", dead.pid, socket.gethostname())
    _lock(tmp_path, "live-job", 1, socket.gethostname())
    _lock(tmp_path, "remote-job", dead.pid, "elsewhere")
    stale = stale_engine_locks(f"file://{tmp_path}")
    assert [(lock.job_id, lock.pid) for lock in stale] == [("dead-job", dead.pid)]
    assert {lock.job_id for lock in engine_locks(f"file://{tmp_path}")} == {"dead-job", "live-job", "remote-job"}
