"""`trainctl gc` on this machine: planted leaks are found and removed; live jobs are left alone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.agent.procs import is_alive, processes_with_env
from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.inspect import watcher_processes
from orchestrator.vocabulary import watch_lock_key

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


def test_gc_of_another_backend_leaves_a_running_job_alone(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """gc pointed at another backend (same home) reports nothing of a running job: not its processes, not its workdir."""
    assert tc.run("up", str(make_job(steps=600, step_s=0.1)), "--detach").returncode == 0
    live = only_job(tc)["job_id"]
    try:
        for watcher in wait_until(lambda: watcher_processes(live)):  # no lock of its watcher protects the job
            os.kill(watcher, signal.SIGTERM)
        wait_until(lambda: not watcher_processes(live), timeout=30)
        other = {"TRAINCTL_BACKEND_URL": f"file://{tmp_path / 'other-state'}"}
        (tmp_path / "other-state").mkdir()
        result = tc.run("gc", "--dry-run", "--local-only", "--output", "json", env=other)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["findings"] == []
        assert tc.json("gc", "--dry-run", "--local-only")["findings"] == []
        assert processes_with_env("TRAINCTL_JOB_ID", live) and (tc.home / "runs" / live).is_dir()
    finally:
        tc.run("down", live)


def test_gc_leaves_alone_a_job_whose_watcher_holds_its_lock(tc: Trainctl, tmp_path: Path) -> None:
    """A process of a job with no stack here is no leak while that job's watcher lock is held."""
    job_id = "watched-job-abc123"
    env = {**os.environ, "TRAINCTL_JOB_ID": job_id, "TRAINCTL_JOB_HOME": str(tc.home)}
    process = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tc.home), watch_lock_key(job_id)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert tc.json("gc", "--dry-run", "--local-only")["findings"] == []
    finally:
        holder.kill()
        holder.wait()
    try:
        report = tc.json("gc", "--dry-run", "--local-only")
        assert [(f["kind"], f["job_id"]) for f in report["findings"]] == [("leaked-process", job_id)]
    finally:
        process.kill()
        process.wait()


# Holds a job lock (as a watcher does) until killed; prints "held" once it has it.
HOLD_LOCK = """
import sys, time
from pathlib import Path
from orchestrator.jobs.locks import job_lock
with job_lock(Path(sys.argv[1]), sys.argv[2], "watch"):
    print("held", flush=True)
    time.sleep(600)
"""
