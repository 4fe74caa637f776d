"""`plan --offline`: the resources of both targets' programs, with no credentials, network or engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.compile import compile_job
from orchestrator.errors import InternalError, InvalidInputError
from orchestrator.jobs.records import JobPrices
from orchestrator.lifecycle.offline_plan import offline_plan
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.targets import get_target
from tests.conftest import EXAMPLES

JOB_ID = "resnet-baseline-abc123"


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials or endpoint, and any attempt to build an AWS client fails the test."""
    from orchestrator.cloud import aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("offline plan asked AWS for something")

    monkeypatch.setattr(aws, "client", refuse)


def _aws_plan() -> dict[str, Any]:
    loaded = load_spec(EXAMPLES / "aws" / "job.yaml")
    job = compile_job(loaded, JOB_ID, get_settings(), prices=JobPrices(hourly_usd=1.0), read_env=False)
    return offline_plan(job, get_target("aws").program(job))


@pytest.mark.usefixtures("no_aws")
def test_aws_example_plans_every_resource_without_credentials() -> None:
    """examples/aws/job.yaml plans offline: provider, storage, IAM, network, template, instance, logs."""
    plan = _aws_plan()
    assert plan["stack"] == JOB_ID and plan["project"] == "trainctl" and plan["region"] == "us-east-1"
    kinds = {(r["type"], r["name"]) for r in plan["resources"]}
    assert {
        ("pulumi:providers:aws", "aws"),
        ("aws:s3/bucket:Bucket", "artifacts"),
        ("aws:s3/bucketVersioning:BucketVersioning", "artifacts-versioning"),
        ("aws:s3/bucketObjectv2:BucketObjectv2", "code-bundle"),
        ("aws:s3/bucketObjectv2:BucketObjectv2", "agent-bundle"),
        ("aws:iam/role:Role", "role"),
        ("aws:iam/rolePolicy:RolePolicy", "role-policy"),
        ("aws:iam/instanceProfile:InstanceProfile", "instance-profile"),
        ("aws:ec2/securityGroup:SecurityGroup", "security-group"),
        ("aws:ec2/launchTemplate:LaunchTemplate", "launch-template"),
        ("aws:cloudwatch/logGroup:LogGroup", "logs"),
        ("aws:ssm/parameter:Parameter", "secret-WANDB_API_KEY"),
        ("pulumi-python:dynamic:Resource", "instance"),
    } <= kinds
    assert len(kinds) == len(plan["resources"]), "a resource was declared twice"
    assert plan["outputs"]["bucket"] == f"trainctl-{JOB_ID}"
    json.dumps(plan)  # JSON-ready throughout


@pytest.mark.usefixtures("no_aws")
def test_inputs_use_pulumi_wire_names() -> None:
    """Inputs appear as the engine receives them: camelCase, nested too."""
    plan = _aws_plan()
    template = next(r for r in plan["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]
    assert {"userData", "imageId", "metadataOptions", "blockDeviceMappings", "instanceInitiatedShutdownBehavior"} <= set(template)
    assert template["metadataOptions"]["httpTokens"] == "required"


@pytest.mark.usefixtures("no_aws")
def test_offline_plan_writes_no_archives(trainctl_home: Path) -> None:
    """Planning builds no code or agent archive (they are written only for a real preview or up)."""
    _aws_plan()
    assert not (trainctl_home / "runs" / JOB_ID / "bundles").exists()


@pytest.mark.usefixtures("no_aws")
def test_local_example_plans_its_dynamic_resources() -> None:
    """The local target plans too: its resources are dynamic ones, with their provider blob elided."""
    loaded = load_spec(EXAMPLES / "quickstart" / "job.yaml")
    job = compile_job(loaded, "quickstart-logreg-abc123", get_settings(), prices=JobPrices(hourly_usd=0.0), read_env=False)
    plan = offline_plan(job, get_target("local").program(job))
    by_name = {r["name"]: r for r in plan["resources"]}
    assert {"workdir", "artifacts", "training"} <= set(by_name)
    assert all(r["type"] == "pulumi-python:dynamic:Resource" for r in plan["resources"])
    assert all(r["inputs"]["__provider"] == "<dynamic provider>" for r in plan["resources"])
    assert by_name["artifacts"]["retain_on_delete"] is True
    assert plan["region"] is None and plan["target"] == "local"


def test_real_secret_values_never_reach_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a job compiled with secrets read from the environment plans with masked values."""
    monkeypatch.setenv("WANDB_API_KEY", "sk-do-not-print-me")
    loaded = load_spec(EXAMPLES / "aws" / "job.yaml")
    job = compile_job(loaded, JOB_ID, get_settings(), prices=JobPrices(hourly_usd=1.0), read_env=True)
    plan = offline_plan(job, get_target("aws").program(job))
    assert "sk-do-not-print-me" not in json.dumps(plan)


def test_plans_are_repeatable_and_leave_the_callers_event_loop_alone() -> None:
    """Two plans are equal, and planning inside a running event loop works (the plan has its own)."""

    async def inside_loop() -> dict[str, Any]:
        return _aws_plan()

    first = _aws_plan()
    second = asyncio.run(inside_loop())
    assert first == second


def test_program_errors_are_reported_as_trainctl_errors() -> None:
    """A trainctl error from the program passes through; anything else becomes an internal error."""
    loaded = load_spec(EXAMPLES / "aws" / "job.yaml")
    job = compile_job(loaded, JOB_ID, get_settings(), prices=JobPrices(hourly_usd=1.0), read_env=False)

    def invalid() -> None:
        raise InvalidInputError("bad input")

    def broken() -> None:
        raise KeyError("oops")

    with pytest.raises(InvalidInputError):
        offline_plan(job, invalid)
    with pytest.raises(InternalError, match="KeyError"):
        offline_plan(job, broken)
