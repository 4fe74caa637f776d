"""docs/teams.md's setup of a team backend, run as written against moto; then a member works with the documented settings."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import boto3
import jmespath
import pytest

from orchestrator.targets.aws.iam import team_member_policy
from orchestrator.testing.harness import Trainctl, write_job
from orchestrator.testing.moto_server import REGION, MotoServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "teams.md"
SECTION = "## Setting up a team backend on AWS"
STRING_PARAMETERS = {"Policy", "PolicyDocument"}  # JSON documents the API takes as strings
SERVICES = {"s3api": "s3"}


def _blocks(kind: str) -> list[str]:
    """The fenced blocks of ``kind`` in the setup section, in order."""
    section = DOC.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.S)


def _aws(line: str, variables: dict[str, str], files: dict[str, str]) -> Any:
    """One documented `aws` command, as the AWS CLI would make it, through boto3."""
    argv = shlex.split(re.sub(r"\$(\w+)", lambda m: variables[m[1]], line))
    assert argv[0] == "aws", line
    client = boto3.client(SERVICES.get(argv[1], argv[1]), region_name=REGION)
    params: dict[str, Any] = {}
    query = None
    for flag, value in zip(argv[3::2], argv[4::2], strict=True):
        name = flag.removeprefix("--")
        if name in ("query", "output"):
            query = value if name == "query" else query
            continue
        key = "".join(part.capitalize() for part in name.split("-"))
        if value.startswith("file://"):
            value = files[value.removeprefix("file://")]
        params[key] = json.loads(value) if value.startswith("{") and key not in STRING_PARAMETERS else value
    answer = getattr(client, argv[2].replace("-", "_"))(**params)
    return jmespath.search(query, answer) if query else answer


@pytest.mark.engine
def test_the_documented_setup_works_on_moto(moto: MotoServer, tmp_path: Path) -> None:
    """Every documented command runs; the bucket is versioned, encrypted, private; a member then runs a job with secrets on it."""
    [commands], [policy], exports = _blocks("sh")[:1], _blocks("json"), _blocks("sh")[1]
    assert json.loads(policy) == team_member_policy("acme-trainctl-state", "trainctl", "alias/trainctl-team")
    variables: dict[str, str] = {}
    for line in filter(None, commands.splitlines()):
        assigned = re.fullmatch(r"(\w+)=\$\((.*)\)", line)
        if assigned:
            variables[assigned[1]] = str(_aws(assigned[2], variables, {"member-policy.json": policy}))
        else:
            _aws(line, variables, {"member-policy.json": policy})

    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_bucket_versioning(Bucket="acme-trainctl-state")["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket="acme-trainctl-state")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(s3.get_public_access_block(Bucket="acme-trainctl-state")["PublicAccessBlockConfiguration"].values())
    aliases = boto3.client("kms", region_name=REGION).list_aliases()["Aliases"]
    assert any(a["AliasName"] == "alias/trainctl-team" and a.get("TargetKeyId") == variables["KEY_ID"] for a in aliases)
    policies = boto3.client("iam", region_name=REGION).list_policies(Scope="Local")["Policies"]
    assert [p["PolicyName"] for p in policies] == ["trainctl-team-member"]

    member = Trainctl(tmp_path / "member-home")
    member.env.update(dict(re.findall(r"export (\w+)=(\S+)", exports)))
    member.env["TEAM_TOKEN"] = "s3cr3t-value"
    spec = write_job(tmp_path, "doc-setup", steps=3, extra="secrets: [TEAM_TOKEN]\n")
    result = member.run("up", str(spec))
    assert result.returncode == 0, result.stderr
    settings = s3.list_objects_v2(Bucket="acme-trainctl-state", Prefix="trainctl/.trainctl/stack-settings/")["Contents"]
    document = s3.get_object(Bucket="acme-trainctl-state", Key=settings[0]["Key"])["Body"].read().decode()
    assert "secretsprovider: awskms://alias/trainctl-team?region=us-east-1" in document and "s3cr3t" not in document
