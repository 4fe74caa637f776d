"""Fixtures of the team tests: one S3 backend (a moto bucket) with a KMS key, and two users with their own homes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from orchestrator.testing.faults import FaultProxy, access_denied
from orchestrator.testing.harness import Trainctl
from orchestrator.testing.moto_server import REGION, MotoServer

BUCKET = "team-state"
PREFIX = "trainctl"
KEY_ALIAS = "alias/trainctl-team"


@dataclass
class TeamBackend:
    """A team's shared backend: where it is, its secrets provider, and a client to look inside."""

    url: str
    secrets_provider: str
    s3: object

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key of the bucket under ``PREFIX/prefix``."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{prefix}")  # type: ignore[attr-defined]
        return [item["Key"] for page in pages for item in page.get("Contents", ())]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read()  # type: ignore[attr-defined, no-any-return]

    def user(self, home: Path, **env: str) -> Trainctl:
        """A member with their own TRAINCTL_HOME on this backend."""
        home.mkdir(parents=True, exist_ok=True)
        member = Trainctl(home)
        member.env.update({"TRAINCTL_BACKEND_URL": self.url, "TRAINCTL_SECRETS_PROVIDER": self.secrets_provider, **env})
        return member


@pytest.fixture
def team(moto: MotoServer) -> Iterator[TeamBackend]:
    """A bucket and a KMS key on moto; the address comes from AWS_ENDPOINT_URL only (none in the URL)."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(Description="trainctl team secrets")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=key)
    yield TeamBackend(f"s3://{BUCKET}/{PREFIX}", f"awskms://{KEY_ALIAS}?region={REGION}", s3)


@pytest.fixture
def alice(team: TeamBackend, tmp_path: Path) -> Trainctl:
    """User A."""
    return team.user(tmp_path / "alice-home")


@pytest.fixture
def bob(team: TeamBackend, tmp_path: Path) -> Trainctl:
    """User B, with another home on the same backend."""
    return team.user(tmp_path / "bob-home")


@pytest.fixture
def refusing_kms(fault_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The fault proxy refusing every KMS Decrypt (for one user's AWS_ENDPOINT_URL_KMS): a member the key refuses."""
    fault_proxy.clear()
    fault_proxy.add(
        access_denied("Decrypt", message="User: arn:aws:iam::123456789012:user/bob is not authorized to perform: kms:Decrypt")
    )
    yield fault_proxy
    fault_proxy.clear()
