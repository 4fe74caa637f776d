"""The AWS program under Pulumi's mock runtime: tags, IAM scope, network, instance settings, spot."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.compile import CompiledJob
from orchestrator.lifecycle.offline_plan import offline_plan
from orchestrator.targets.aws import iam, names
from orchestrator.targets.aws.target import AwsTarget

VARIANTS = {
    "on-demand": {"spot": False},
    "spot": {"spot": True},
    "spot-no-fallback": {"spot": True, "fallback": False},
    "ami-override": {"ami": "ami-0123456789abcdef0"},
    "no-cost-center": {"cost_center": None, "spot": True},
    "secrets": {"secrets": ("WANDB_API_KEY", "HF_TOKEN")},
    "cpu": {"instance_type": "t3.micro"},
}
# Resource types that take no tags (their parent resource carries them).
UNTAGGABLE = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
}


def _plan(job: CompiledJob) -> dict[str, Any]:
    return offline_plan(job, AwsTarget().program(job))


def _one(plan: dict[str, Any], typ: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in plan["resources"] if r["type"] == typ and name in (None, r["name"])]
    assert len(found) == 1, f"expected one {typ}, got {len(found)}"
    return found[0]


def _default_tags(plan: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Provider URN suffix -> the default tags it applies."""
    tags = {}
    for resource in plan["resources"]:
        if resource["type"] == "pulumi:providers:aws":
            raw = resource["inputs"].get("defaultTags") or "{}"
            tags[resource["name"]] = (json.loads(raw) if isinstance(raw, str) else raw).get("tags", {})
    return tags


_PLANS: dict[str, tuple[CompiledJob, dict[str, Any]]] = {}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, make_job: Callable[..., CompiledJob]) -> tuple[CompiledJob, dict[str, Any]]:
    """A spec variant and its plan (planned once per variant: a plan does not depend on the test)."""
    if request.param not in _PLANS:
        job = make_job(**VARIANTS[request.param])
        _PLANS[request.param] = (job, _plan(job))
    return _PLANS[request.param]


def test_every_aws_resource_carries_all_job_tags(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """Each AWS resource goes through a provider whose default tags hold every job tag (or tags itself)."""
    job, plan = variant
    provider_tags = _default_tags(plan)
    assert provider_tags, "no explicit aws provider"
    for tags in provider_tags.values():
        assert tags == job.tags
    for resource in plan["resources"]:
        if resource["type"].startswith("pulumi:providers:"):
            continue
        if resource["type"].startswith("aws:"):
            provider_name = resource["provider"].split("::")[-2]
            inherited = provider_tags.get(provider_name, {})
            own = resource["inputs"].get("tags") or {}
            assert {**inherited, **own}.items() >= job.tags.items() or resource["type"] in UNTAGGABLE, resource["name"]
        else:
            assert resource["inputs"]["tags"] == job.tags, resource["name"]
    assert ("trainctl:cost-center" in job.tags) == (job.spec.cost_center is not None)


def test_launch_template_tags_instance_volume_and_interface(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """What the instance creates (itself, its root volume, its network interface) is tagged at launch."""
    job, plan = variant
    specs = _one(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["tagSpecifications"]
    assert {s["resourceType"] for s in specs} == {"instance", "volume", "network-interface"}
    assert all(s["tags"] == job.tags for s in specs)


def test_iam_names_only_this_jobs_bucket_log_group_and_secrets(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """The instance policy is scoped to the job's bucket, log group and secrets; `*` only for SSM channels."""
    job, plan = variant
    policy = _one(plan, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"]
    bucket_arn = f"arn:aws:s3:::{names.bucket_name(job.job_id)}"
    group = names.log_group_name(job.job_id)
    for statement in iam.statements(policy):
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            if resource == "*":
                assert set(statement["Action"]) <= set(iam.SSM_AGENT_ACTIONS), statement["Sid"]
            elif resource.startswith("arn:aws:s3:::"):
                assert resource in (bucket_arn, f"{bucket_arn}/*")
            elif ":logs:" in resource:
                assert resource.split(":log-group:")[1] in (group, f"{group}:*")
            else:
                assert resource.split(":parameter")[1].startswith(f"/trainctl/{job.job_id}/"), resource
        assert not any(a.endswith(":*") or a == "*" for a in statement["Action"]), "wildcard action"
    secret_statements = [s for s in iam.statements(policy) if s.get("Sid") == "ReadJobSecrets"]
    assert len(secret_statements) == (1 if job.spec.secrets else 0)
    [trust] = iam.statements(_one(plan, "aws:iam/role:Role")["inputs"]["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"} and trust["Action"] == ["sts:AssumeRole"]


def test_security_group_has_no_inbound_rules(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """No ingress at all (so none from 0.0.0.0/0 or ::/0), and no separate ingress rule resources."""
    _, plan = variant
    group = _one(plan, "aws:ec2/securityGroup:SecurityGroup")["inputs"]
    assert group["ingress"] == []
    assert not [r for r in plan["resources"] if "ingress" in r["type"].lower() or "securityGroupRule" in r["type"]]


def test_instance_requires_imdsv2_encrypts_and_terminates_on_shutdown(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """Launch template: IMDSv2 required, encrypted gp3 root of disk_gb (at least the image's snapshot), shutdown terminates."""
    job, plan = variant
    template = _one(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert template["instanceInitiatedShutdownBehavior"] == "terminate"
    [mapping] = template["blockDeviceMappings"]
    # disk_gb is 64; the GPU image's root snapshot is 75 GiB (EC2 refuses less); a CPU image's is 8.
    size = 64 if job.spec.resources.ami or job.spec.resources.instance_type == "t3.micro" else 75
    assert mapping["ebs"] == {"volumeSize": size, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}
    assert template["iamInstanceProfile"]["arn"].endswith(f":instance-profile/{names.resource_name(job.job_id)}")
    assert template["instanceType"] == job.spec.resources.instance_type


def test_user_data_bootstraps_the_agent_from_the_bucket(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """User data installs the agent from the job's bucket, starts it, and holds no secret values."""
    job, plan = variant
    script = base64.b64decode(_one(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["userData"]).decode()
    assert len(script.encode()) < 16384
    assert "python3 -m orchestrator.agent /opt/trainctl/agent.json" in script
    assert "systemctl enable --now trainctl-agent.service" in script
    objects = {r["name"]: r["inputs"] for r in plan["resources"] if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2"}
    for label in ("code-bundle", "agent-bundle"):
        assert objects[label]["key"] in script
        assert objects[label]["bucket"] == names.bucket_name(job.job_id)
    config_b64 = next(line for line in script.splitlines() if "base64 -d > /opt/trainctl/agent.json" in line).split("'")[1]
    config = json.loads(base64.b64decode(config_b64))
    assert config["store_url"] == f"s3://{names.bucket_name(job.job_id)}"
    assert config["shutdown_command"] == ["sudo", "/usr/sbin/shutdown", "-h", "now"]
    assert (config["spot_notice_url"] is not None) == job.spec.resources.spot
    for secret in job.spec.secrets:
        assert names.secret_parameter(job.job_id, secret) in script


def test_spot_settings_present_exactly_when_spot(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """The instance asks for spot (with its options and fallback choice) only when the spec says spot."""
    job, plan = variant
    instance = _one(plan, "pulumi-python:dynamic:Resource", "instance")["inputs"]
    template = _one(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]
    assert "instanceMarketOptions" not in template
    if job.spec.resources.spot:
        assert instance["market"] == "spot"
        assert instance["spot_options"] == {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
        assert instance["on_demand_fallback"] is job.spec.resources.on_demand_fallback
    else:
        assert instance["market"] == "on-demand"
        assert "spot_options" not in instance and "on_demand_fallback" not in instance


def test_image_comes_from_public_ssm_parameter_unless_overridden(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """GPU types get the deep learning AMI, CPU types Amazon Linux 2023, an override wins."""
    job, plan = variant
    image = _one(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["imageId"]
    if job.spec.resources.ami:
        assert image == job.spec.resources.ami
    elif job.spec.resources.instance_type == "t3.micro":
        assert image == "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    else:
        assert image.startswith("resolve:ssm:/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu")


def test_storage_is_encrypted_versioned_private_and_retained(variant: tuple[CompiledJob, dict[str, Any]]) -> None:
    """The bucket is versioned, encrypted, blocks public access, and survives teardown (like its log group)."""
    job, plan = variant
    bucket = _one(plan, "aws:s3/bucket:Bucket")
    assert bucket["inputs"]["bucket"] == names.bucket_name(job.job_id)
    block = _one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    versioning = _one(plan, "aws:s3/bucketVersioning:BucketVersioning")["inputs"]
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    encryption = _one(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    logs = _one(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert logs["inputs"]["name"] == names.log_group_name(job.job_id)
    assert logs["inputs"]["retentionInDays"] == names.LOG_RETENTION_DAYS
    retained = {r["name"] for r in plan["resources"] if r.get("retain_on_delete")}
    assert {"artifacts", "logs", "code-bundle", "agent-bundle", "artifacts-versioning"} <= retained
    assert {"role", "security-group", "launch-template", "instance"}.isdisjoint(retained)


def test_secrets_become_secure_parameters_with_masked_values(make_job: Callable[..., CompiledJob]) -> None:
    """Each secret is a SecureString parameter under the job's path; the plan never shows a value."""
    job = make_job(secrets=("WANDB_API_KEY",))
    job = dataclasses.replace(job, secret_values={"WANDB_API_KEY": "hunter2-real-value"})
    plan = _plan(job)
    parameter = _one(plan, "aws:ssm/parameter:Parameter")["inputs"]
    assert parameter["type"] == "SecureString"
    assert parameter["name"] == "/trainctl/vision-run-a1b2c3/WANDB_API_KEY"
    assert parameter["value"] == "[secret]"
    assert "hunter2-real-value" not in json.dumps(plan)


def test_instance_waits_for_everything_it_uses(make_job: Callable[..., CompiledJob]) -> None:
    """The instance launches only after its policy, profile, archives, log group and secrets exist."""
    plan = _plan(make_job(secrets=("WANDB_API_KEY",)))
    depends = set(_one(plan, "pulumi-python:dynamic:Resource", "instance")["depends_on"])
    assert {"role-policy", "instance-profile", "launch-template", "logs", "code-bundle", "agent-bundle"} <= depends
    assert "secret-WANDB_API_KEY" in depends


def test_retained_storage_of_an_earlier_allocation_is_adopted(
    make_job: Callable[..., CompiledJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the job's bucket and log group survive a teardown, the program imports them instead of creating."""
    import pulumi

    from orchestrator.targets.aws import program

    job = make_job()
    asked: list[str] = []

    def found(compiled: CompiledJob, endpoint: str | None) -> program.Existing:
        asked.append(compiled.job_id)
        return program.Existing(bucket=True, log_group=True)

    real_get_bool = pulumi.Config.get_bool
    monkeypatch.setattr(program, "existing_storage", found)
    monkeypatch.setattr(
        pulumi.Config, "get_bool", lambda self, key, *a: None if key == "offline" else real_get_bool(self, key, *a)
    )
    plan = _plan(job)
    assert asked == [job.job_id]
    imported = {r["name"]: r.get("import") for r in plan["resources"] if r["name"] in ("artifacts", "logs")}
    assert imported == {"artifacts": names.bucket_name(job.job_id), "logs": names.log_group_name(job.job_id)}
    assert all(r.get("import") is None for r in plan["resources"] if r["name"] not in ("artifacts", "logs"))
    assert list((job.run_dir / "bundles").glob("*.tar.gz")), "a real preview writes the archives it uploads"
