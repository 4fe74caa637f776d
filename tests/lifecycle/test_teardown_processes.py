"""`cancel` and `down` return only when every process of the job is gone: agent, run, finalize and watcher."""

from __future__ import annotations

import json

from orchestrator.testing.harness import Trainctl, wait_until
from orchestrator.testing.inspect import job_processes, watcher_processes

SLOW_WATCHER = {"TRAINCTL_WATCH_INTERVAL_S": "600"}  # the watcher would look again only in 10 minutes


def detached(tc: Trainctl, spec: str) -> str:
    """`up --detach` with a watcher that looks rarely; the job id once its agent and watcher run."""
    result = tc.run("up", spec, "--detach", "--output", "json", env=SLOW_WATCHER)
    assert result.returncode == 0, result.stderr
    job_id: str = json.loads(result.stdout)["job_id"]
    wait_until(lambda: job_processes(job_id) and watcher_processes(job_id), timeout=30)
    return job_id


def test_down_returns_with_no_process_of_the_job_left(tc: Trainctl, make_job) -> None:
    """Right after `down` of a running detached job returns, no agent, run or watcher process of it exists."""
    job_id = detached(tc, str(make_job(steps=600, step_s=0.1)))
    down = tc.run("down", job_id, "--output", "json")
    assert down.returncode == 0, down.stderr
    assert (job_processes(job_id), watcher_processes(job_id)) == ([], [])
    assert json.loads(down.stdout)["state"] == "cancelled"


def test_cancel_returns_with_no_process_of_the_job_left(tc: Trainctl, make_job) -> None:
    """Right after `cancel` returns, the job is cancelled and none of its processes is left."""
    job_id = detached(tc, str(make_job(steps=600, step_s=0.1)))
    cancel = tc.run("cancel", job_id)
    assert cancel.returncode == 0, cancel.stderr
    assert (job_processes(job_id), watcher_processes(job_id)) == ([], [])
    assert tc.record(job_id)["state"] == "cancelled"


def test_down_of_a_job_that_ended_stops_its_idle_watcher(tc: Trainctl, make_job) -> None:
    """A job that ended and tore itself down while its watcher sleeps: `down` finds it down and still returns only
    once the watcher is gone."""
    job_id = detached(tc, str(make_job(steps=30, step_s=0.1)))  # still running at the watcher's first look
    wait_until(lambda: tc.record(job_id)["torn_down"] and not job_processes(job_id), timeout=60)
    assert watcher_processes(job_id), "the watcher should still be asleep"
    down = tc.run("down", job_id)
    assert down.returncode == 0, down.stderr
    assert watcher_processes(job_id) == []
    assert tc.record(job_id)["state"] == "succeeded"
