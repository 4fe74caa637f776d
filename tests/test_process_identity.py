"""A process trainctl recorded is its pid plus its start time: a reused pid is never signalled nor taken for it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.agent import procs
from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process leading its own session (what a reused pid may point at)."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _wrong_ticks(pid: int) -> int:
    ticks = procs.start_ticks(pid)
    assert ticks is not None
    return ticks - 1


def test_terminate_session_spares_a_session_on_a_reused_pid(stranger: subprocess.Popen[bytes]) -> None:
    """Stopping a recorded session whose leader's pid now belongs to another process signals nothing."""
    killed = procs.terminate_session(stranger.pid, 0.5, leader_ticks=_wrong_ticks(stranger.pid))
    assert not killed and stranger.poll() is None


def test_terminate_session_stops_the_recorded_process(stranger: subprocess.Popen[bytes]) -> None:
    """With the right start time the session is stopped (SIGTERM)."""
    procs.terminate_session(stranger.pid, 5.0, leader_ticks=procs.start_ticks(stranger.pid))
    assert stranger.wait(timeout=10) == -15


def test_provider_delete_spares_a_process_on_the_agents_reused_pid(stranger: subprocess.Popen[bytes]) -> None:
    """Deleting the training process (what `down` does) leaves alone a process that only reuses the agent's pid."""
    from orchestrator.targets.local.providers import TrainingProcessProvider

    props = {"pid": stranger.pid, "start_ticks": _wrong_ticks(stranger.pid), "grace_period_s": 0.0}
    TrainingProcessProvider().delete(f"{stranger.pid}:x", props)
    TrainingProcessProvider().read(f"{stranger.pid}:x", props)
    assert stranger.poll() is None


def test_status_of_a_dead_agent_whose_pid_was_reused_says_so(cli, trainctl_home: Path, stranger: subprocess.Popen[bytes]) -> None:
    """`status` of a running job whose agent's pid now belongs to another process: interrupted, and why."""
    job_id = "reused-pid-abc123"
    artifacts = trainctl_home / "artifacts" / job_id
    artifacts.mkdir(parents=True)
    status = {"state": "running", "pid": stranger.pid, "start_ticks": _wrong_ticks(stranger.pid), "updated_at": time.time()}
    (artifacts / "status.json").write_text(json.dumps(status))
    record = JobRecord(
        job_id=job_id, name="reused-pid", team="t", owner="o@example.com", target="local", state="running",
        created=time.time(), outputs={"artifacts": f"file://{artifacts}"},
    )  # fmt: skip
    Ledger.for_home(trainctl_home).save(record)
    result = cli("status", job_id, "--output", "json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["state"] == "interrupted"
    assert f"pid {stranger.pid} now belongs to another process" in shown["reason"]
    assert stranger.poll() is None
