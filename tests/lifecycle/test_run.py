"""up attached: a complete run, a failing run, restarts; teardown leaves artifacts and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.jobs.backend import backend_id
from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.inspect import engine_locks, job_processes, live_resources, pending_operations, stack_tags


def test_complete_run_succeeds_and_tears_down(tc: Trainctl, make_job) -> None:
    """up runs to the end: exit 0, output streamed, state succeeded, workdir gone, artifacts kept."""
    result = tc.run("up", str(make_job(steps=5)))
    assert result.returncode == 0, result.stderr
    assert "step 5" in result.stdout and "trainer done" in result.stdout
    job = only_job(tc)
    job_id = job["job_id"]
    assert job["state"] == "succeeded" and job["torn_down"] is True
    assert not (tc.home / "runs" / job_id).exists()
    artifacts = tc.home / "artifacts" / job_id
    assert sorted(p.name for p in (artifacts / "checkpoints").iterdir()) == ["step-0003.json", "step-0004.json", "step-0005.json"]
    assert json.loads((artifacts / "outputs" / "done.json").read_text()) == {"steps": 5}
    assert live_resources(tc.home, job_id) == []
    assert engine_locks(tc.home) == [] and pending_operations(tc.home, job_id) == []
    assert job_processes(job_id) == []
    assert stack_tags(tc.home, job_id) == {
        "trainctl:job-id": job_id,
        "trainctl:job-name": "lifecycle-test",
        "trainctl:team": "test-team",
        "trainctl:owner": "tester@example.com",
        "trainctl:managed-by": "trainctl",
        "trainctl:backend": backend_id(f"file://{tc.home / 'state'}"),
    }
    rows = tc.json("ls")["jobs"]
    assert [(r["job_id"], r["state"]) for r in rows] == [(job_id, "succeeded")]
    for key in ("job_id", "name", "state", "target", "team", "owner", "created", "runtime_s", "cost_usd"):
        assert key in rows[0], key
    assert rows[0]["runtime_s"] >= 0.5


def test_failing_run_exits_6_and_shows_output(tc: Trainctl, make_job) -> None:
    """A run that exits non-zero makes `up` exit 6; its output (stderr too) is shown; state failed."""
    result = tc.run("up", str(make_job(steps=5, env={"FAIL_AT": "2"})))
    assert result.returncode == 6, result.stderr
    assert "failing at step 2" in result.stdout
    assert "failed: exit 3" in result.stderr
    job = only_job(tc)
    assert job["state"] == "failed" and job["exit_code"] == 3
    assert job_processes(job["job_id"]) == []


def test_failed_run_is_restarted_from_its_checkpoint(tc: Trainctl, make_job) -> None:
    """With max_failures 1, a failed run restarts once with TRAINCTL_RESUME_FROM set and then succeeds."""
    spec = make_job(steps=4, env={"FAIL_AT": "2"}, extra="restarts:\n  max_failures: 1\n")
    result = tc.run("up", str(spec))
    assert result.returncode == 0, result.stderr
    assert "failing at step 2" in result.stdout
    assert "trainer start=2 resume=" in result.stdout
    assert "restart 1/1" in result.stdout
    assert only_job(tc)["state"] == "succeeded"


def test_max_runtime_stops_the_run(tc: Trainctl, make_job) -> None:
    """A run longer than limits.max_runtime is stopped: exit 6, reason max_runtime, checkpoint kept."""
    spec = make_job(steps=200, step_s=0.1, extra="limits:\n  max_runtime: 2s\n")
    result = tc.run("up", str(spec))
    assert result.returncode == 6, result.stderr
    job = only_job(tc)
    assert job["state"] == "failed" and job["reason"] == "max_runtime"
    assert any((tc.home / "artifacts" / job["job_id"] / "checkpoints").iterdir())


def test_missing_secret_exits_2_before_allocating(tc: Trainctl, make_job) -> None:
    """A secret named in the spec but absent from the environment exits 2 naming it; nothing allocated."""
    result = tc.run("up", str(make_job(extra="secrets: [TRAINCTL_TEST_TOKEN_XYZ]\n")))
    assert result.returncode == 2
    assert "TRAINCTL_TEST_TOKEN_XYZ" in result.stderr
    assert not (tc.home / "runs").exists() or not any((tc.home / "runs").iterdir())


def test_secrets_reach_the_run_but_not_state_or_files(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """A secret is in the run's environment, encrypted in state, and in no plain-text file trainctl wrote."""
    spec = make_job(steps=1, extra="secrets: [MY_API_TOKEN]\n")
    text = spec.read_text().replace("run: ", 'run: echo "token-length=${#MY_API_TOKEN}" && ')
    spec.write_text(text)
    result = tc.run("up", str(spec), env={"MY_API_TOKEN": "s3cr3t-value"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token-length=12" in result.stdout
    for path in tc.home.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-value" not in path.read_bytes(), path
    assert "s3cr3t-value" not in result.stdout + result.stderr


def test_budget_stops_the_job_and_status_says_budget(tc: Trainctl, make_job, generous_caps: str) -> None:
    """With a local price of $3600/h and max_cost_usd 3, the run stops after ~3 s: exit 6, reason budget."""
    spec = make_job(steps=500, step_s=0.05, extra="limits:\n  max_cost_usd: 3\n")
    result = tc.run("up", str(spec), "--policy-config", generous_caps, env={"TRAINCTL_LOCAL_HOURLY_USD": "3600"})
    assert result.returncode == 6, result.stderr
    assert "budget" in result.stderr
    job = only_job(tc)
    assert job["state"] == "failed" and job["reason"] == "budget"
    assert 2.5 <= job["cost_usd"] <= 6.0, job["cost_usd"]
    status = tc.json("status", job["job_id"])
    assert status["reason"] == "budget" and status["cost_usd"] == job["cost_usd"]
    assert any((tc.home / "artifacts" / job["job_id"] / "checkpoints").iterdir())


def test_running_job_shows_cost_so_far(tc: Trainctl, make_job, generous_caps: str) -> None:
    """ls and status of a running job show its accrued cost from the configured hourly price."""
    env = {"TRAINCTL_LOCAL_HOURLY_USD": "36"}
    spec = make_job(steps=300, step_s=0.1, extra="limits:\n  max_runtime: 10m\n")
    started = tc.run("up", str(spec), "--detach", "--policy-config", generous_caps, env=env)
    assert started.returncode == 0, started.stderr
    job_id = only_job(tc)["job_id"]
    status = wait_until(lambda: _accrued(tc, job_id, 0.015), timeout=60, interval=0.2)
    assert status["state"] == "running"
    assert status["cost_usd"] == pytest.approx(status["runtime_s"] * 0.01, abs=0.002)  # $36/h is $0.01/s
    assert status["cost_usd"] >= 0.015
    rows = tc.json("ls")["jobs"]
    assert rows[0]["cost_usd"] >= status["cost_usd"]
    assert tc.run("cancel", job_id).returncode == 0
    final = tc.record(job_id)
    assert final["cost_usd"] >= status["cost_usd"]


def _accrued(tc: Trainctl, job_id: str, usd: float) -> dict[str, Any] | None:
    """The job's status once it has accrued at least ``usd``, else None."""
    status: dict[str, Any] = tc.json("status", job_id)
    return status if (status.get("cost_usd") or 0) >= usd else None


def test_policy_blocks_plan_and_up_with_exit_3_and_nothing_allocated(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """A team cap below the local price: plan and up exit 3 naming the policy; no resource, process or directory;
    the job is recorded as blocked (listed by `ls`, not among the failed jobs)."""
    caps = tmp_path / "strict.yaml"
    caps.write_text("max-hourly-cost: {maxUsd: 1}\n")
    spec = make_job(steps=3, extra="limits:\n  max_runtime: 10m\n")
    env = {"TRAINCTL_LOCAL_HOURLY_USD": "5"}
    plan = tc.run("plan", str(spec), "--policy-config", str(caps), env=env)
    assert plan.returncode == 3, plan.stderr
    assert "max-hourly-cost" in plan.stdout + plan.stderr
    up = tc.run("up", str(spec), "--policy-config", str(caps), env=env)
    assert up.returncode == 3, up.stderr
    assert "max-hourly-cost [mandatory] job-manifest" in up.stderr and "fix:" in up.stderr
    job = only_job(tc)
    assert job["state"] == "blocked" and "blocked by policy" in job["reason"]
    [row] = tc.json("ls", "--state", "blocked")["jobs"]
    assert row["job_id"] == job["job_id"] and row["runtime_s"] == 0 and row["cost_usd"] == 0
    assert tc.json("ls", "--state", "failed")["jobs"] == []
    assert live_resources(tc.home, job["job_id"]) == []
    assert not (tc.home / "runs" / job["job_id"]).exists()
    assert not (tc.home / "artifacts" / job["job_id"]).exists()
    assert job_processes(job["job_id"]) == []
    allowed = tc.run("up", str(spec), env=env)  # the default caps (40 USD/h) allow it
    assert allowed.returncode == 0, allowed.stderr
