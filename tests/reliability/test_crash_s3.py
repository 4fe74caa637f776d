"""kill -9 of `up`, `cancel` and `down` on a team's S3 backend (moto, KMS secrets): the same seeded trials as the
file backend's (tests/reliability/test_crash.py), with every stack, lock and job record in the bucket."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestrator.testing.harness import Trainctl
from orchestrator.testing.moto_server import REGION, MotoServer
from tests.reliability.test_crash import OPERATIONS, Backend, run_trials

pytestmark = pytest.mark.engine

TRIALS = int(os.environ.get("TRAINCTL_S3_CRASH_TRIALS", "12"))
SEED = int(os.environ.get("TRAINCTL_CRASH_SEED", "20261202"))
BUCKET = "crash-trials"


class S3Backend:
    """One trial's prefix of the bucket: its stacks' checkpoints and the engine's lock objects."""

    def __init__(self, s3: Any, prefix: str) -> None:
        self.s3, self.prefix = s3, prefix

    def locks(self) -> list[tuple[str, int]]:
        found = []
        answer = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.prefix}/.pulumi/locks/")
        for item in answer.get("Contents", ()):
            try:
                holder = json.loads(self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
            except self.s3.exceptions.NoSuchKey:
                continue  # released while we looked
            found.append((item["Key"], int(holder.get("pid", 0))))
        return found

    def _latest(self, job_id: str) -> dict[str, Any]:
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=f"{self.prefix}/.pulumi/stacks/trainctl/{job_id}.json")["Body"]
        except self.s3.exceptions.NoSuchKey:
            return {}
        latest: dict[str, Any] = json.loads(body.read())["checkpoint"].get("latest") or {}
        return latest

    def pending_operations(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._latest(job_id).get("pending_operations") or [])

    def live_resources(self, job_id: str) -> list[str]:
        return [r["type"] for r in self._latest(job_id).get("resources") or [] if not r["type"].startswith("pulumi:")]


@pytest.mark.timeout(90 * TRIALS)
def test_kill_9_trials_on_the_s3_backend_leave_nothing_stale(moto: MotoServer, tmp_path: Path, make_job) -> None:
    """Every seeded kill -9 trial on S3 ends clean after recover or a re-run (see the printed trial table)."""
    assert TRIALS >= 10 and 2 * len(OPERATIONS) <= TRIALS
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    kms = boto3.client("kms", region_name=REGION)
    kms.create_alias(AliasName="alias/crash-trials", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])

    def trial_user(index: int) -> tuple[Trainctl, Backend]:
        home = tmp_path / f"trial-{index:02d}"
        home.mkdir()
        user = Trainctl(home)
        prefix = f"trial-{index:02d}"
        user.env.update(
            {
                "TRAINCTL_BACKEND_URL": f"s3://{BUCKET}/{prefix}",
                "TRAINCTL_SECRETS_PROVIDER": f"awskms://alias/crash-trials?region={REGION}",
            }
        )
        return user, S3Backend(s3, prefix)

    run_trials(make_job, trial_user, TRIALS, SEED, "kill -9 trials on S3")
