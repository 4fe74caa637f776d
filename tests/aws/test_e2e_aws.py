"""Opt-in end to end on a real AWS account: `up` a t3.micro job through the normal lifecycle, then `down --purge`.

Runs only with TRAINCTL_E2E_AWS=1, AWS credentials, the Pulumi engine and the `pulumi-resource-aws`
provider binary (on PATH or in ~/.pulumi/plugins); otherwise it is skipped with the reason. It always
tears down what it created, whether the run passes or fails. Cost: a few minutes of a t3.micro.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e_aws

SPEC = """\
name: trainctl-e2e
team: platform
owner: e2e@example.com
target: aws
resources:
  instance_type: t3.micro
  disk_gb: 16
  region: {region}
code:
  workdir: .
  run: echo hello-from-trainctl && mkdir -p checkpoints && echo 1 > checkpoints/step-1 && python3 train.py
limits:
  max_runtime: 20m
  max_cost_usd: 1
"""


def _provider_dir() -> Path | None:
    found = shutil.which("pulumi-resource-aws")
    if found:
        return Path(found).parent
    plugins = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi") / "plugins"
    candidates = sorted(plugins.glob("resource-aws-v*/pulumi-resource-aws"))
    return candidates[-1].parent if candidates else None


def _skip_reason() -> str | None:
    if os.environ.get("TRAINCTL_E2E_AWS") != "1":
        return "opt-in: set TRAINCTL_E2E_AWS=1 to deploy a t3.micro job to your AWS account"
    if _provider_dir() is None:
        return "the pulumi-resource-aws provider binary is missing (install it with `pulumi plugin install resource aws`)"
    import boto3

    if boto3.session.Session().get_credentials() is None:
        return "no AWS credentials (configure a profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    from orchestrator.engine.locate import installed_engine
    from orchestrator.settings import get_settings

    if installed_engine(get_settings().engines) is None:
        return "the Pulumi engine is not installed (`trainctl engine install`)"
    return None


def test_up_runs_a_job_on_aws_and_down_purges_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` allocates, runs to success and tears down; logs and checkpoints come back; `down --purge` cleans."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.stop import down_job
    from orchestrator.lifecycle.up import up_job
    from orchestrator.spec.loader import load_spec

    provider_dir = _provider_dir()
    assert provider_dir is not None
    monkeypatch.setenv("PATH", f"{provider_dir}{os.pathsep}{os.environ['PATH']}")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    (tmp_path / "job.yaml").write_text(SPEC.format(region=region))
    (tmp_path / "train.py").write_text("print('trained on', __import__('platform').machine())\n")
    rt = Runtime()
    output = io.BytesIO()
    try:
        outcome = up_job(rt, load_spec(tmp_path / "job.yaml"), detach=False, new=True, say=print, output=output)
        record = outcome.record
        assert record.state == "succeeded", record.reason
        assert record.torn_down
        assert b"hello-from-trainctl" in output.getvalue()
        assert record.outputs["bucket"] == f"trainctl-{record.job_id}"
    finally:
        for job in rt.ledger.all():
            _, removed = down_job(rt, job.job_id, purge=True)
            print(f"purged {job.job_id}: {removed}")
