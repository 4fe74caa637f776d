"""A team backend: the real engine keeps job stacks in S3 (served by moto) through a whole `trainctl up`."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from orchestrator.testing.harness import Trainctl, only_job, write_job
from orchestrator.testing.moto_server import MotoServer

pytestmark = pytest.mark.engine


def test_up_ls_and_down_with_state_in_s3(moto: MotoServer, trainctl_home: Path, tmp_path: Path) -> None:
    """With TRAINCTL_BACKEND_URL=s3://..., up runs and tears down; the stack, its tags and history live in the bucket."""
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    s3.create_bucket(Bucket="team-state")
    port = moto.url.rsplit(":", 1)[1]
    url = f"s3://team-state/trainctl?region=us-east-1&endpoint=http://127.0.0.1:{port}&s3ForcePathStyle=true"
    tc = Trainctl(trainctl_home)
    tc.env["TRAINCTL_BACKEND_URL"] = url
    tc.env["PULUMI_CONFIG_PASSPHRASE"] = "the team's passphrase"  # a team backend takes no passphrase only this home knows
    result = tc.run("up", str(write_job(tmp_path, "s3-backend", steps=3)))
    assert result.returncode == 0, result.stderr
    job_id = only_job(tc)["job_id"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="team-state")["Contents"]}
    assert f"trainctl/.pulumi/stacks/trainctl/{job_id}.json" in keys
    assert f"trainctl/.trainctl/stack-settings/trainctl/{job_id}.yaml" in keys  # a teammate operates it with the same settings
    tags = json.loads(
        s3.get_object(Bucket="team-state", Key=f"trainctl/.pulumi/stacks/trainctl/{job_id}.pulumi-tags")["Body"].read()
    )
    assert tags["tags"]["trainctl:job-id"] == job_id
    checkpoint = json.loads(
        s3.get_object(Bucket="team-state", Key=f"trainctl/.pulumi/stacks/trainctl/{job_id}.json")["Body"].read()
    )
    resources = checkpoint["checkpoint"]["latest"].get("resources") or []
    assert [r["type"] for r in resources if not r["type"].startswith("pulumi:")] == []
    assert not (trainctl_home / "state").exists(), "nothing may fall back to the local file backend"
    assert not (trainctl_home / "passphrase").exists(), "the job's secrets must not depend on this home"
    assert tc.run("down", job_id).returncode == 0
