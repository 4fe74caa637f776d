"""`trainctl gc` on this machine: planted leaks are found and removed; live jobs are left alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.agent.procs import is_alive, processes_with_env
from orchestrator.testing.harness import Trainctl, only_job, wait_until

pytestmark = pytest.mark.engine


def _plant_orphans(home: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A process and a working directory of a job whose stack never existed (or is gone)."""
    env = {**os.environ, "TRAINCTL_JOB_ID": "ghost-job-abc123", "TRAINCTL_JOB_HOME": str(home)}
    process = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    directory = home / "runs" / "ghost-job-abc123"
    (directory / "work").mkdir(parents=True)
    (directory / ".trainctl-job.json").write_text(json.dumps({"trainctl:job-id": "ghost-job-abc123"}))
    return process, directory


def test_gc_finds_and_removes_planted_local_leaks_but_not_live_jobs(tc: Trainctl, make_job) -> None:
    """dry-run reports the orphan process and directory; --yes removes them; a running job keeps running."""
    assert tc.run("up", str(make_job(steps=600, step_s=0.1)), "--detach").returncode == 0
    live = only_job(tc)["job_id"]
    process, directory = _plant_orphans(tc.home)
    try:
        report = tc.json("gc", "--dry-run", "--local-only")
        kinds = {(f["kind"], f["job_id"]) for f in report["findings"]}
        assert kinds == {("leaked-process", "ghost-job-abc123"), ("leaked-directory", "ghost-job-abc123")}
        assert process.poll() is None and directory.exists()

        cleaned = tc.json("gc", "--yes", "--local-only")
        assert all(f["removed"] for f in cleaned["findings"]) and len(cleaned["findings"]) == 2
        process.wait(timeout=10)
        assert not directory.exists()
        assert processes_with_env("TRAINCTL_JOB_ID", live), "gc must leave a live job's processes alone"
        assert (tc.home / "runs" / live).is_dir()
        assert tc.json("gc", "--dry-run", "--local-only")["findings"] == []
    finally:
        process.kill()
        tc.run("down", live)


def test_gc_clears_a_stale_engine_lock(tc: Trainctl, make_job) -> None:
    """A lock file left by a dead engine process on this host is found and removed; `up` works again."""
    spec = make_job(steps=2)
    assert tc.run("up", str(spec)).returncode == 0
    job_id = only_job(tc)["job_id"]
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock_dir = tc.home / "state" / ".pulumi" / "locks" / "organization" / "trainctl" / job_id
    lock_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    holder = {"pid": dead.pid, "username": "root", "hostname": socket.gethostname(), "timestamp": stamp}
    (lock_dir / "0f0f0f0f-0000-4000-8000-000000000000.json").write_text(json.dumps(holder))
    assert not is_alive(dead.pid)
    report = tc.json("gc", "--dry-run", "--local-only")
    assert [(f["kind"], f["job_id"]) for f in report["findings"]] == [("stale-lock", job_id)]
    tc.json("gc", "--yes", "--local-only")
    assert not list(lock_dir.glob("*.json"))


def test_gc_stops_expired_jobs(tc: Trainctl, make_job) -> None:
    """A job still running past its deadline (a 1 ms TTL: past as soon as it runs) is reported, and torn down with --yes."""
    assert tc.run("up", str(make_job(steps=600, step_s=0.1)), "--detach").returncode == 0
    job_id = only_job(tc)["job_id"]
    env = {"TRAINCTL_JOB_TTL_S": "0.001"}
    report = json.loads(tc.run("gc", "--dry-run", "--local-only", "--output", "json", env=env).stdout)
    assert [(f["kind"], f["job_id"]) for f in report["findings"]] == [("expired-job", job_id)]
    applied = tc.run("gc", "--yes", "--local-only", env=env)
    assert applied.returncode == 0, applied.stderr
    record = tc.record(job_id)
    assert record["state"] == "cancelled" and record["torn_down"] and "expired" in record["reason"]
    wait_until(lambda: not processes_with_env("TRAINCTL_JOB_ID", job_id), timeout=20)
