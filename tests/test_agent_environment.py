"""What a run's environment holds (base, spec env, secrets, contract) and what the agent's hooks carry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orchestrator.agent.__main__ import main as agent_main
from orchestrator.agent.config import AgentConfig
from orchestrator.agent.environment import BASE_NAMES, IDENTITY_NAMES
from orchestrator.testing.harness import wait_until

CALLER_KEY = "caller-aws-secret-9f3a"
SECRET = "job-secret-value-77c1"
# Writes its environment as JSON to argv[1], atomically (a reader never sees half a file).
DUMP = (
    "import json, os, sys; p = sys.argv[1]; open(p + '.tmp', 'w').write(json.dumps(dict(os.environ))); os.replace(p + '.tmp', p)"
)


def _run_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: object) -> Path:
    """Run the agent once (its run dumps its environment to run-env.json); return the workdir."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CALLER_KEY)
    monkeypatch.setenv("MY_TOKEN", SECRET)
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.setenv("TRAINCTL_JOB_HOME", str(tmp_path))
    config = AgentConfig(
        job_id="envtest-abc123",
        workdir=str(workdir),
        run=f'{sys.executable} -c "{DUMP}" run-env.json',
        store_url=f"file://{tmp_path / 'store'}",
        env={"LR": "0.1"},
        secret_names=["MY_TOKEN"],
        heartbeat_s=0.1,
        **overrides,  # type: ignore[arg-type]
    )
    path = tmp_path / "agent.json"
    path.write_text(config.to_json())
    assert agent_main([str(path)]) == 0
    return workdir


def test_run_gets_base_spec_env_secrets_and_contract_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run sees the spec's env and secrets and the contract, not the caller's AWS key or other variables."""
    env = json.loads((_run_agent(tmp_path, monkeypatch) / "run-env.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in env and CALLER_KEY not in json.dumps(env)
    assert env["MY_TOKEN"] == SECRET and env["LR"] == "0.1" and env["LC_TIME"] == "C"
    assert env["TRAINCTL_JOB_ID"] == "envtest-abc123" and env["TRAINCTL_JOB_HOME"] == str(tmp_path)
    contract = {
        "TRAINCTL_CHECKPOINT_DIR",
        "TRAINCTL_RESUME_FROM",
        "TRAINCTL_ARTIFACT_DIR",
        "TRAINCTL_METRICS_FILE",
        "PYTHONUNBUFFERED",
    }
    allowed = {*BASE_NAMES, *IDENTITY_NAMES, *contract, "LR", "MY_TOKEN"}
    shell_own = {"PWD", "SHLVL", "_"}  # the shell that runs the command sets these itself
    assert {k for k in env if k not in allowed | shell_own and not k.startswith("LC_")} == set()


def test_target_named_variables_reach_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable the target lets through (``pass_env``, e.g. AWS_REGION on an instance) reaches the run."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    env = json.loads((_run_agent(tmp_path, monkeypatch, pass_env=["AWS_REGION"]) / "run-env.json").read_text())
    assert env["AWS_REGION"] == "eu-west-1"


def test_finalize_hook_carries_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The finalize process the agent starts has neither the job's secrets nor its job id."""
    dump = tmp_path / "finalize-env.json"
    _run_agent(tmp_path, monkeypatch, finalize_command=[sys.executable, "-c", DUMP, str(dump)])
    text = wait_until(lambda: dump.exists() and dump.read_text())
    env = json.loads(text)
    assert SECRET not in text and "MY_TOKEN" not in env and "TRAINCTL_JOB_ID" not in env
