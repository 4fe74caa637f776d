"""`trainctl wait JOB [--timeout D]`: the CI pattern `up --detach` then `wait`, with real jobs and real signals."""

from __future__ import annotations

import json
import signal

from orchestrator.testing.harness import Trainctl
from orchestrator.testing.inspect import job_processes


def detached(tc: Trainctl, spec: str) -> str:
    """`up --detach` the spec; the job id."""
    result = tc.run("up", spec, "--detach", "--output", "json")
    assert result.returncode == 0, result.stderr
    job_id: str = json.loads(result.stdout)["job_id"]
    return job_id


def test_wait_exits_0_when_the_job_succeeds(tc: Trainctl, make_job) -> None:
    """`wait` blocks until the detached job has succeeded, then exits 0 with the final state in its JSON."""
    job_id = detached(tc, str(make_job(steps=15, step_s=0.1)))
    result = tc.run("wait", job_id, "--output", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["job_id"], doc["state"], doc["timed_out"], doc["exit_code"]) == (job_id, "succeeded", False, 0)
    assert "step 14" in (tc.home / "artifacts" / job_id / "logs" / "output.log").read_text()


def test_wait_exits_6_when_the_run_fails(tc: Trainctl, make_job) -> None:
    """A run that exits non-zero makes `wait` exit 6, printing the failed job (not an error object) and a hint."""
    job_id = detached(tc, str(make_job(steps=20, step_s=0.05, env={"FAIL_AT": "3", "FAIL_ALWAYS": "1"})))
    result = tc.run("wait", job_id, "--output", "json")
    assert result.returncode == 6, result.stderr
    doc = json.loads(result.stdout)
    assert doc["state"] == "failed" and doc["timed_out"] is False
    assert f"trainctl logs {job_id}" in result.stderr


def test_timeout_ctrl_c_and_cancel_by_someone_else(tc: Trainctl, make_job) -> None:
    """--timeout exits 7 and Ctrl-C exits 130, both leaving the job running; a `cancel` from elsewhere ends the
    wait with exit 6 naming the cancel."""
    job_id = detached(tc, str(make_job(steps=600, step_s=0.1)))

    timed_out = tc.run("wait", job_id, "--timeout", "1s", "--output", "json")
    assert timed_out.returncode == 7, timed_out.stderr
    doc = json.loads(timed_out.stdout)
    assert doc["timed_out"] is True and doc["state"] == "running"
    assert "keeps running" in timed_out.stderr
    assert tc.json("status", job_id)["state"] == "running" and job_processes(job_id)

    waiting = tc.start("wait", job_id)
    assert waiting.stderr is not None
    while "wait.started" not in waiting.stderr.readline():  # its signal handlers are in place
        assert waiting.poll() is None, waiting.stderr.read()
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 130, err
    assert "keeps running" in err
    assert tc.json("status", job_id)["state"] == "running" and job_processes(job_id)

    waiting = tc.start("wait", job_id, "--output", "json")
    cancelled = tc.run("cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 6, err
    assert json.loads(out)["state"] == "cancelled"
    assert "cancelled by `trainctl cancel`" in err


def test_unknown_job_and_bad_timeout_are_invalid_input(cli) -> None:
    """`wait` on a job that does not exist, or with a timeout it cannot read, exits 2 naming the problem."""
    missing = cli("wait", "no-such-job-000000")
    assert missing.exit_code == 2 and "no job 'no-such-job-000000'" in missing.stderr
    bad = cli("wait", "anything", "--timeout", "soon")
    assert bad.exit_code == 2 and "--timeout: invalid duration 'soon'" in bad.stderr
