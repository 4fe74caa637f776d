"""Preemption recovery through the stack: a spot notice stops the run, `up` relaunches it from its checkpoint.

The local agent polls an IMDS-style URL (TRAINCTL_LOCAL_SPOT_NOTICE_URL) exactly as the AWS agent polls
IMDSv2; a fake metadata service on loopback answers with one interruption notice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.imds import FakeImds
from orchestrator.testing.inspect import engine_locks, live_resources, watcher_processes


@pytest.fixture
def metadata() -> Iterator[FakeImds]:
    """A fake instance metadata service for the test's agents."""
    service = FakeImds()
    yield service
    service.stop()


def _checkpointed(tc: Trainctl) -> bool:
    return any((tc.home / "artifacts").glob("*/checkpoints/step-*.json"))


def test_preempted_run_is_relaunched_from_its_checkpoint(tc: Trainctl, make_job, metadata: FakeImds) -> None:
    """One spot notice: the run stops, `up` relaunches the compute through the stack, the run resumes and succeeds."""
    spec = make_job(steps=200, step_s=0.05)
    proc = tc.start("up", str(spec), env={"TRAINCTL_LOCAL_SPOT_NOTICE_URL": metadata.url})
    wait_until(lambda: _checkpointed(tc), timeout=60)
    metadata.notice()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert metadata.actions_served == 1
    assert "spot preemption 1/3: resume from" in err and "relaunching" in err
    starts = [line for line in out.splitlines() if line.startswith("trainer start=")]
    assert len(starts) == 2 and not starts[1].startswith("trainer start=0 "), starts
    job = only_job(tc)
    assert job["state"] == "succeeded" and job["preemptions"] == 1
    assert (Path(tc.home) / "artifacts" / job["job_id"] / "outputs" / "done.json").exists()


def test_preemptions_beyond_the_limit_fail_the_job(tc: Trainctl, make_job, metadata: FakeImds) -> None:
    """With restarts.max_preemptions 0 a preemption is not recovered: exit 6, state failed, reason says why."""
    spec = make_job(steps=400, step_s=0.05, extra="restarts:\n  max_preemptions: 0\n")
    proc = tc.start("up", str(spec), env={"TRAINCTL_LOCAL_SPOT_NOTICE_URL": metadata.url})
    wait_until(lambda: _checkpointed(tc), timeout=60)
    metadata.notice()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 6, err
    job = only_job(tc)
    assert job["state"] == "failed" and "restarts.max_preemptions is 0" in job["reason"]
    assert job["torn_down"] is True


def test_budget_is_for_the_whole_job_across_a_relaunch(tc: Trainctl, make_job, metadata: FakeImds, generous_caps: str) -> None:
    """$3600/h (a dollar a second) and max_cost_usd 20: preempted after 5-10 s (the agent asks IMDS every
    5 s), the relaunched run gets only what is left, so the job stops on budget near $20 in all, both
    runs in its recorded cost."""
    spec = make_job(steps=4000, step_s=0.05, extra="limits:\n  max_cost_usd: 20\n")
    env = {"TRAINCTL_LOCAL_SPOT_NOTICE_URL": metadata.url, "TRAINCTL_LOCAL_HOURLY_USD": "3600"}
    proc = tc.start("up", str(spec), "--policy-config", generous_caps, env=env)
    wait_until(lambda: _checkpointed(tc), timeout=60)
    job_id = only_job(tc)["job_id"]
    wait_until(lambda: tc.json("status", job_id)["cost_usd"] >= 4.0, timeout=30)
    metadata.notice()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 6, err
    assert "relaunching" in err and "budget" in err, err
    assert len([line for line in out.splitlines() if line.startswith("trainer start=")]) == 2
    job = tc.json("status", job_id)
    assert job["state"] == "failed" and job["reason"] == "budget"
    assert job["runs"] == 2
    # Without the earlier run taken off, the second run alone would spend the whole $20 (total >= 25).
    assert 17.0 <= job["cost_usd"] <= 23.0, job["cost_usd"]


def test_a_detached_job_is_relaunched_by_its_watcher(tc: Trainctl, make_job, metadata: FakeImds) -> None:
    """Nobody attached: the watcher `up --detach` started relaunches the preempted run from its checkpoint,
    tears the job down when it succeeds, and exits."""
    spec = make_job(steps=200, step_s=0.05)
    env = {"TRAINCTL_LOCAL_SPOT_NOTICE_URL": metadata.url, "TRAINCTL_WATCH_INTERVAL_S": "0.5"}
    result = tc.run("up", str(spec), "--detach", env=env)
    assert result.returncode == 0, result.stderr
    assert "a watcher relaunches it after a preemption" in result.stderr
    job_id = only_job(tc)["job_id"]
    assert watcher_processes(job_id)
    wait_until(lambda: _checkpointed(tc), timeout=60)
    metadata.notice()
    wait_until(lambda: tc.record(job_id)["torn_down"], timeout=120)
    record = tc.record(job_id)
    assert record["state"] == "succeeded" and record["preemptions"] == 1 and len(record["past_runs"]) == 1, record
    watch_log = (tc.home / "logs" / f"{job_id}.watch.log").read_text()
    assert "relaunching" in watch_log
    output = (tc.home / "artifacts" / job_id / "logs" / "output.log").read_text()
    starts = [line for line in output.splitlines() if line.startswith("trainer start=")]
    assert len(starts) == 2 and not starts[1].startswith("trainer start=0 "), starts
    wait_until(lambda: not watcher_processes(job_id), timeout=30)
    assert live_resources(tc.home, job_id) == [] and engine_locks(tc.home) == []
