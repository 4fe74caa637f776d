"""Detached jobs: status, logs, cancel, self-teardown; the agent killed mid-run and the job resumed."""

from __future__ import annotations

import os
import signal

from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.inspect import engine_locks, job_processes, live_resources, pending_operations, stack_checkpoint


def _step_count(tc: Trainctl, job_id: str) -> int:
    log = tc.home / "artifacts" / job_id / "logs" / "output.log"
    return log.read_text().count("\nstep ") if log.exists() else 0


def test_detach_status_logs_cancel(tc: Trainctl, make_job) -> None:
    """--detach returns while the job runs; status and logs see it; cancel stops it with a checkpoint."""
    result = tc.run("up", str(make_job(steps=300, step_s=0.1)), "--detach")
    assert result.returncode == 0, result.stderr
    job_id = only_job(tc)["job_id"]
    status = tc.json("status", job_id)
    assert status["state"] == "running" and status["job_id"] == job_id
    assert status["next"].startswith(f"trainctl logs {job_id} -f")
    wait_until(lambda: _step_count(tc, job_id) >= 3)
    logs = tc.run("logs", job_id)
    assert logs.returncode == 0 and "step 1" in logs.stdout
    assert job_processes(job_id)
    latest = stack_checkpoint(tc.home, job_id)["checkpoint"]["latest"]
    dynamic = [r for r in latest["resources"] if r["type"] == "pulumi-python:dynamic:Resource"]
    assert sorted(r["urn"].rsplit("::", 1)[-1] for r in dynamic) == ["artifacts", "job-manifest", "training", "workdir"]
    for resource in dynamic:
        assert resource["inputs"]["tags"]["trainctl:job-id"] == job_id
        assert resource["inputs"]["tags"]["trainctl:managed-by"] == "trainctl"

    again = tc.run("up", str(tc.home.parent / "lifecycle-test" / "job.yaml"))
    assert again.returncode == 0 and "already running" in again.stderr
    assert len(tc.jobs()) == 1

    cancelled = tc.run("cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    record = tc.record(job_id)
    assert record["state"] == "cancelled" and record["torn_down"] is True
    assert tc.json("status", job_id)["next"] is None
    assert "SIGTERM at step" in (tc.home / "artifacts" / job_id / "logs" / "output.log").read_text()
    assert job_processes(job_id) == []
    assert not (tc.home / "runs" / job_id).exists()
    assert live_resources(tc.home, job_id) == [] and engine_locks(tc.home) == []


def test_detached_job_tears_itself_down_when_done(tc: Trainctl, make_job) -> None:
    """A detached job that finishes is torn down by the agent's finalize hook, with no trainctl watching."""
    assert tc.run("up", str(make_job(steps=3)), "--detach").returncode == 0
    job_id = only_job(tc)["job_id"]
    wait_until(lambda: tc.record(job_id)["torn_down"], timeout=60)
    record = tc.record(job_id)
    assert record["state"] == "succeeded"
    assert live_resources(tc.home, job_id) == [] and pending_operations(tc.home, job_id) == []
    assert not (tc.home / "runs" / job_id).exists()
    wait_until(lambda: job_processes(job_id) == [], timeout=10)


def test_logs_follow_streams_until_the_end(tc: Trainctl, make_job) -> None:
    """`logs -f` prints the output as it comes and returns when the run ends."""
    assert tc.run("up", str(make_job(steps=6, step_s=0.2)), "--detach").returncode == 0
    job_id = only_job(tc)["job_id"]
    followed = tc.run("logs", job_id, "-f", timeout=60)
    assert followed.returncode == 0
    assert "step 6" in followed.stdout and "trainer done" in followed.stdout


def test_agent_killed_then_up_resumes_from_checkpoint(tc: Trainctl, make_job) -> None:
    """kill -9 of the agent interrupts the job; `up` again relaunches it from the newest checkpoint."""
    spec = make_job(steps=400, step_s=0.05)
    assert tc.run("up", str(spec), "--detach").returncode == 0
    job_id = only_job(tc)["job_id"]
    wait_until(lambda: _step_count(tc, job_id) >= 10)
    agent_pid = tc.json("status", job_id)["outputs"]["pid"]
    wait_until(lambda: any((tc.home / "artifacts" / job_id / "checkpoints").glob("step-*.json")))
    os.kill(agent_pid, signal.SIGKILL)
    wait_until(lambda: tc.json("status", job_id)["state"] == "interrupted", timeout=20)
    stored = sorted(p.name for p in (tc.home / "artifacts" / job_id / "checkpoints").iterdir())
    newest = int(stored[-1][5:9])

    resumed = tc.run("up", str(spec), "--detach")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming job " + job_id in resumed.stderr
    assert len(tc.jobs()) == 1
    log = tc.home / "artifacts" / job_id / "logs" / "output.log"
    wait_until(lambda: "trainer start=" in log.read_text().split("trainer start=0", 1)[-1])
    starts = [line for line in log.read_text().splitlines() if line.startswith("trainer start=")]
    assert int(starts[-1].split()[1].split("=")[1]) >= newest
    down = tc.run("down", job_id)
    assert down.returncode == 0, down.stderr
    assert job_processes(job_id) == []
    assert not (tc.home / "runs" / job_id).exists()
    assert (tc.home / "artifacts" / job_id / "checkpoints").is_dir()


def test_down_purge_removes_artifacts(tc: Trainctl, make_job) -> None:
    """`down --purge` deletes the artifact store; plain `down` keeps it."""
    assert tc.run("up", str(make_job(steps=2))).returncode == 0
    job_id = only_job(tc)["job_id"]
    assert (tc.home / "artifacts" / job_id).is_dir()
    purged = tc.run("down", job_id, "--purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert not (tc.home / "artifacts" / job_id).exists()


def test_unknown_job_exits_2(tc: Trainctl) -> None:
    """status, logs, cancel and down of a job that does not exist exit 2 naming it."""
    for command in ("status", "logs", "cancel", "down"):
        result = tc.run(command, "no-such-job")
        assert result.returncode == 2, (command, result.stderr)
        assert "no-such-job" in result.stderr
