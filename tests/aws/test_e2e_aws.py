"""Opt-in end to end on a real AWS account: `up` a t3.micro job through the normal lifecycle, then `down --purge`.

Runs only with TRAINCTL_E2E_AWS=1 (`make e2e-aws` sets it), AWS credentials, the Pulumi engine and the
`pulumi-resource-aws` provider binary (on PATH or in ~/.pulumi/plugins); otherwise it is skipped with the
reason (`pytest -rs` prints it). It always tears down what it created, whether the run passes or fails,
then lists every resource still tagged with the job's id (Resource Groups Tagging API) and fails on any.
Cost: about five minutes of a t3.micro plus S3 and CloudWatch pennies (docs/aws.md).
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e_aws
# The tagging index is eventually consistent: a deleted resource may stay listed for a few minutes.
TAGGED_GONE_WAIT_S = 600.0
# About two minutes of "training": a checkpoint every 10 s, so the run also exercises the S3 sync.
TRAIN = """\
import os, pathlib, platform, time
ckpt = pathlib.Path(os.environ["TRAINCTL_CHECKPOINT_DIR"])
for step in range(12):
    (ckpt / f"step-{step:02d}").mkdir(parents=True, exist_ok=True)
    (ckpt / f"step-{step:02d}" / "state.txt").write_text(str(step))
    time.sleep(10)
print("trained on", platform.machine())
"""

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
  run: echo hello-from-trainctl && python3 train.py
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
    (tmp_path / "train.py").write_text(TRAIN)
    rt = Runtime()
    output = io.BytesIO()
    job_ids: list[str] = []
    try:
        outcome = up_job(rt, load_spec(tmp_path / "job.yaml"), detach=False, new=True, say=print, output=output)
        record = outcome.record
        job_ids.append(record.job_id)
        assert record.state == "succeeded", record.reason
        assert record.torn_down
        assert b"hello-from-trainctl" in output.getvalue()
        assert record.outputs["bucket"] == f"trainctl-{record.job_id}"
    finally:
        for job in rt.ledger.all():
            job_ids.append(job.job_id)
            _, removed = down_job(rt, job.job_id, purge=True)
            print(f"purged {job.job_id}: {removed}")
    for job_id in sorted(set(job_ids)):
        assert _still_tagged(region, job_id) == [], f"resources of {job_id} left after `down --purge`"


def _still_tagged(region: str, job_id: str) -> list[str]:
    """ARNs still tagged with ``job_id`` (terminated instances aside), once the tagging index settles."""
    from orchestrator.cloud import aws

    tagging = aws.client("resourcegroupstaggingapi", region=region)
    ec2 = aws.client("ec2", region=region)
    deadline = time.monotonic() + TAGGED_GONE_WAIT_S
    while True:
        pages = tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": "trainctl:job-id", "Values": [job_id]}])
        arns = [m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]]
        left = [arn for arn in arns if not _terminated_instance(ec2, arn)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(15)  # polling a remote, eventually consistent index: no event to wait on


def _terminated_instance(ec2: Any, arn: str) -> bool:
    """EC2 lists terminated instances (with their tags) for about an hour: they cost nothing."""
    if ":instance/" not in arn:
        return False
    instance_id = arn.rsplit("/", 1)[-1]
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return all(i["State"]["Name"] == "terminated" for r in found for i in r["Instances"])
