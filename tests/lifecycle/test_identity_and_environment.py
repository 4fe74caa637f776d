"""A local job's processes: who they are (pid + start time) and what their environment holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from orchestrator.agent import procs
from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.inspect import job_processes, state_dir, watcher_processes

CALLER_KEY = "caller-aws-secret-5be0"
SECRET = "job-secret-value-31d4"


def _training_outputs(home: Path, job_id: str) -> tuple[Path, dict[str, object], dict[str, object]]:
    """(checkpoint file, its document, the outputs of the training process resource in it)."""
    path = state_dir(home) / "stacks" / "trainctl" / f"{job_id}.json"
    document = json.loads(path.read_text())
    [training] = [r for r in document["checkpoint"]["latest"]["resources"] if r["urn"].endswith("::training")]
    return path, document, training["outputs"]


def test_down_spares_a_process_that_reuses_the_agents_pid(tc: Trainctl, make_job) -> None:
    """State names the agent as pid P with start time T; P now is another session's leader: `down` leaves it alone."""
    assert tc.run("up", str(make_job(steps=600, step_s=0.1)), "--detach").returncode == 0
    job_id = only_job(tc)["job_id"]
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    path, document, outputs = _training_outputs(tc.home, job_id)
    agent, agent_ticks = int(outputs["pid"]), outputs["start_ticks"]  # type: ignore[call-overload]
    try:
        ticks = procs.start_ticks(stranger.pid)
        assert ticks is not None
        outputs.update(pid=stranger.pid, start_ticks=ticks - 1)  # the stranger, started at another time
        path.write_text(json.dumps(document))
        result = tc.run("down", job_id)
        assert result.returncode == 0, result.stderr
        assert stranger.poll() is None, "down signalled an unrelated process that only reuses the agent's pid"
        assert tc.record(job_id)["torn_down"] is True
    finally:
        stranger.kill()
        stranger.wait()
        procs.terminate_session(agent, 5.0, leader_ticks=agent_ticks)  # type: ignore[arg-type]
        wait_until(lambda: not job_processes(job_id), timeout=30)


def test_run_environment_is_built_and_the_watcher_carries_no_secret(tc: Trainctl, make_job) -> None:
    """The caller's AWS key never reaches the run; the spec's env and secret do; the watcher lacks the secret."""
    spec = make_job(steps=60, step_s=0.1, env={"ENV_DUMP": "env.json"}, extra="secrets: [MY_API_TOKEN]\n")
    result = tc.run("up", str(spec), "--detach", env={"AWS_SECRET_ACCESS_KEY": CALLER_KEY, "MY_API_TOKEN": SECRET})
    assert result.returncode == 0, result.stderr
    job_id = only_job(tc)["job_id"]
    for watcher in wait_until(lambda: watcher_processes(job_id)):
        assert SECRET.encode() not in Path(f"/proc/{watcher}/environ").read_bytes()
    wait_until(lambda: tc.record(job_id)["torn_down"], timeout=120)
    assert tc.record(job_id)["state"] == "succeeded"
    run_env = json.loads((tc.home / "artifacts" / job_id / "outputs" / "env.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in run_env and CALLER_KEY not in json.dumps(run_env)
    assert run_env["MY_API_TOKEN"] == SECRET and run_env["STEPS"] == "60"
    assert run_env["TRAINCTL_JOB_ID"] == job_id and "PATH" in run_env and "TRAINCTL_HOME" not in run_env
