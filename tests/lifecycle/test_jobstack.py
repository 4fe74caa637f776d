"""The job-stack object's promises, seen from outside: few engine starts, nothing on engine command
lines, no temporary workspace left behind, secrets kept across a watcher's relaunch, and honest
status for a job whose agent never reported."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import load_spec
from orchestrator.testing.engine_shim import engine_starts, shim_engines
from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.imds import FakeImds
from orchestrator.testing.inspect import live_resources, stack_tags, watcher_processes

TEMP_PREFIXES = ("automation-", "trainctl-")


@pytest.fixture
def metadata() -> Iterator[FakeImds]:
    """A fake instance metadata service for the test's agents."""
    service = FakeImds()
    yield service
    service.stop()


def _shim(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A logging engine directory; (its log, the environment that makes trainctl use it)."""
    log = tmp_path / "engine-starts.log"
    engines = shim_engines(tmp_path / "shim", Path(os.environ["TRAINCTL_ENGINE_DIR"]), log)
    return log, {"TRAINCTL_ENGINE_DIR": str(engines)}


def _workspaces(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TEMP_PREFIXES))


@pytest.mark.engine
def test_detached_up_starts_the_engine_at_most_five_times_and_leaves_no_workspace(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """`up --detach` of a local job starts the engine at most 5 times itself; after `down`, the temp dir
    holds no Automation workspace; the stack carries the job's tags."""
    log, env = _shim(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    proc = tc.start("up", str(make_job(steps=200, step_s=0.05)), "--detach", env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    starts = engine_starts(log, proc.pid)
    assert 1 <= len(starts) <= 5, starts
    job_id = only_job(tc)["job_id"]
    assert stack_tags(tc.home, job_id)["trainctl:job-id"] == job_id
    assert tc.run("down", job_id, env=env).returncode == 0
    wait_until(lambda: not watcher_processes(job_id), timeout=30)
    assert _workspaces(scratch) == []


@pytest.mark.engine
def test_200_kb_of_env_values_reach_the_job_and_no_engine_command_line(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """A job with 200 KB of `env` values (four of 50 KB: one string may not exceed 128 KB in a Linux
    environment, but the spec as one engine argument did) runs to success; no value is on an engine
    command line."""
    values = {f"BIG_{n}": "".join(f"{n}{i:07d}" for i in range(6_250)) for n in range(4)}
    log, env = _shim(tmp_path)
    spec = make_job(steps=2, env={**values, "REPORT_ENV": ",".join(values)})
    result = tc.run("up", str(spec), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "succeeded" in result.stdout, result.stdout
    for name, value in values.items():
        digest = hashlib.sha256(value.encode()).hexdigest()[:16]
        assert f"env {name} len=50000 sha256={digest}" in result.stdout
    starts = engine_starts(log)
    assert starts and not any(value[1000:1100] in start.args for value in values.values() for start in starts)


@pytest.mark.engine
def test_a_relaunched_detached_job_keeps_its_secret(tc: Trainctl, make_job, metadata: FakeImds) -> None:
    """A detached job with `secrets: [HF_TOKEN]` is preempted; the run its watcher relaunches sees the
    same HF_TOKEN, which the watcher's own environment does not hold."""
    token = "hf_relaunch_" + "s" * 24
    spec = make_job(steps=200, step_s=0.05, extra="secrets: [HF_TOKEN]\n", env={"REPORT_ENV": "HF_TOKEN"})
    env = {"TRAINCTL_LOCAL_SPOT_NOTICE_URL": metadata.url, "TRAINCTL_WATCH_INTERVAL_S": "0.5", "HF_TOKEN": token}
    result = tc.run("up", str(spec), "--detach", env=env)
    assert result.returncode == 0, result.stderr
    job_id = only_job(tc)["job_id"]
    [watcher] = wait_until(lambda: watcher_processes(job_id), timeout=10)
    assert b"HF_TOKEN=" not in Path(f"/proc/{watcher}/environ").read_bytes()
    wait_until(lambda: any((tc.home / "artifacts" / job_id / "checkpoints").glob("step-*.json")), timeout=60)
    metadata.notice()
    wait_until(lambda: tc.record(job_id)["torn_down"], timeout=120)
    record = tc.record(job_id)
    assert record["state"] == "succeeded" and record["preemptions"] == 1, record
    output = (tc.home / "artifacts" / job_id / "logs" / "output.log").read_text()
    seen = [line for line in output.splitlines() if line.startswith("env HF_TOKEN ")]
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    assert seen == [f"env HF_TOKEN len={len(token)} sha256={digest}"] * 2, seen
    assert live_resources(tc.home, job_id) == []


def _agentless(tc: Trainctl, spec: Path, *, allocated_s_ago: float) -> str:
    """A job record as a crash leaves it: allocated ``allocated_s_ago`` seconds ago, no agent status ever."""
    loaded = load_spec(str(spec))
    now = time.time()
    record = JobRecord(
        job_id=f"{loaded.spec.name}-0000aa",
        name=loaded.spec.name,
        team=loaded.spec.team,
        owner=loaded.spec.owner,
        target="local",
        state="running",
        created=now - allocated_s_ago - 5,
        started_at=now - allocated_s_ago,
        spec_path=str(spec),
        spec=loaded.spec.to_document(),
    )
    Ledger.for_home(tc.home).save(record)
    return record.job_id


def test_a_job_whose_agent_never_reported_reads_provisioning_then_interrupted(tc: Trainctl, make_job) -> None:
    """No status from the agent: `status` says provisioning within agent_start_timeout_s, interrupted after it."""
    job_id = _agentless(tc, make_job(), allocated_s_ago=60)
    patient = tc.run("status", job_id, "--output", "json", env={"TRAINCTL_AGENT_START_TIMEOUT_S": "3600"})
    assert patient.returncode == 0, patient.stderr
    assert '"state": "provisioning"' in patient.stdout
    assert tc.record(job_id)["state"] == "running"  # displayed, not decided yet
    waited = tc.json("status", job_id)  # default timeout, 300 s: still provisioning
    assert waited["state"] == "provisioning"
    expired = tc.run("status", job_id, "--output", "json", env={"TRAINCTL_AGENT_START_TIMEOUT_S": "30"})
    assert '"state": "interrupted"' in expired.stdout and "no status within 30s" in expired.stdout
    assert tc.record(job_id)["state"] == "interrupted"


@pytest.mark.engine
def test_up_resumes_a_job_whose_agent_never_reported(tc: Trainctl, make_job) -> None:
    """Past the timeout, `up SPEC` resumes the agent-less job (same job id) and runs it to success."""
    spec = make_job(steps=2)
    job_id = _agentless(tc, spec, allocated_s_ago=60)
    result = tc.run("up", str(spec), env={"TRAINCTL_AGENT_START_TIMEOUT_S": "30"})
    assert result.returncode == 0, result.stderr
    assert f"resuming job {job_id}" in result.stderr
    assert tc.record(job_id)["state"] == "succeeded" and len(tc.jobs()) == 1
