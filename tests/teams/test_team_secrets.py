"""Team secrets with the real engine: a wrong or missing key is exit 2 naming the provider, and leaves the job whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import ExitCode
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.harness import Trainctl, wait_until, write_job
from orchestrator.testing.inspect import job_processes, live_resources
from tests.teams.conftest import TeamBackend

pytestmark = pytest.mark.engine
RUNNING_RESOURCES = 4  # manifest, workdir, artifacts, training


def _running_job(user: Trainctl, spec: Path) -> str:
    result = user.run("up", "--detach", str(spec))
    assert result.returncode == 0, result.stderr
    job_id = str(user.json("ls")["jobs"][0]["job_id"])
    wait_until(lambda: job_processes(job_id), timeout=60)
    return job_id


def _stack_resources(team: TeamBackend, job_id: str) -> list[str]:
    checkpoint = json.loads(team.read(f".pulumi/stacks/trainctl/{job_id}.json"))
    latest = checkpoint["checkpoint"].get("latest") or {}
    return [r["type"] for r in latest.get("resources") or [] if not r["type"].startswith("pulumi:")]


def test_a_wrong_passphrase_is_exit_2_naming_it_and_tears_nothing_down(tc: Trainctl, make_job) -> None:
    """down with the wrong passphrase: exit 2 naming the passphrase's source, no traceback, the job still runs whole."""
    tc.env["PULUMI_CONFIG_PASSPHRASE"] = "the team's passphrase"
    job_id = _running_job(tc, make_job("wrong-pass", steps=2000, step_s=0.05))
    refused = tc.run("down", job_id, env={"PULUMI_CONFIG_PASSPHRASE": "a wrong one"})
    assert refused.returncode == ExitCode.INVALID_INPUT, refused.stderr
    assert "passphrase (from PULUMI_CONFIG_PASSPHRASE)" in refused.stderr and "Traceback" not in refused.stderr
    assert len(live_resources(tc.home, job_id)) == RUNNING_RESOURCES and job_processes(job_id)
    assert tc.json("status", job_id)["state"] == "running"
    assert tc.run("down", job_id).returncode == 0


def test_a_member_the_kms_key_refuses_gets_exit_2_and_the_job_stays_whole(
    team: TeamBackend, alice: Trainctl, refusing_kms: FaultProxy, tmp_path: Path
) -> None:
    """A member whose identity may not decrypt with the team's KMS key: exit 2 naming the key; nothing torn down."""
    job_id = _running_job(alice, write_job(tmp_path, "kms-denied", steps=2000, step_s=0.05))
    settings = team.read(f".trainctl/stack-settings/trainctl/{job_id}.yaml").decode()
    assert "secretsprovider: awskms://alias/trainctl-team?region=us-east-1" in settings and "127.0.0.1" not in settings
    refused = alice.run("down", job_id, env={"AWS_ENDPOINT_URL_KMS": refusing_kms.url})
    assert refused.returncode == ExitCode.INVALID_INPUT, refused.stderr
    assert "awskms://alias/trainctl-team?region=us-east-1" in refused.stderr and "Traceback" not in refused.stderr
    assert len(_stack_resources(team, job_id)) == RUNNING_RESOURCES and job_processes(job_id)
    assert alice.run("down", job_id).returncode == 0
    assert _stack_resources(team, job_id) == [] and not job_processes(job_id)


def test_a_missing_kms_key_refuses_up_naming_it_and_allocates_nothing(team: TeamBackend, alice: Trainctl, tmp_path: Path) -> None:
    """up with a key alias that does not exist: exit 2 naming the provider; no stack, no process."""
    spec = write_job(tmp_path, "kms-missing", steps=5)
    result = alice.run("up", str(spec), env={"TRAINCTL_SECRETS_PROVIDER": "awskms://alias/nope?region=us-east-1"})
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    assert "awskms://alias/nope?region=us-east-1" in result.stderr and "Traceback" not in result.stderr
    assert [k for k in team.keys(".pulumi/stacks/") if k.endswith(".json")] == []
