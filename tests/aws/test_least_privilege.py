"""Least privilege on AWS: the deployer cannot escalate, job roles carry the boundary, the bucket is TLS-only.

Every IAM document trainctl writes or asks for is linted with parliament (a real IAM policy linter:
no finding above low) and checked here for what parliament cannot judge: conditions that close the
escalation paths of a role-creating, role-passing, instance-launching identity.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any

from parliament import analyze_policy_string, enhance_finding

from orchestrator.cloud import aws
from orchestrator.compile import CompiledJob
from orchestrator.lifecycle.offline_plan import offline_plan
from orchestrator.targets.aws import iam, names
from orchestrator.targets.aws.program import existing_storage
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.testing.moto_server import MotoServer
from tests.conftest import REPO

BOUNDARY = "arn:aws:iam::*:policy/trainctl-job-boundary"
ESCALATING = ("iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary")
ESCALATING += ("iam:UpdateAssumeRolePolicy", "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion")
OPENS_BUCKETS = ("s3:PutBucketAcl", "s3:PutObjectAcl", "s3:PutBucketWebsite", "s3:PutBucketCORS", "s3:PutAccessPointPolicy")
OPENS_BUCKETS += ("s3:PutReplicationConfiguration", "s3:PutBucketOwnershipControls", "s3:PutAccountPublicAccessBlock")


def findings_above_low(document: str) -> list[str]:
    """parliament's findings (its built-in auditors) of severity medium or higher."""
    found = [enhance_finding(f) for f in analyze_policy_string(document).findings]
    return [f"{f.severity} {f.issue} {f.detail}" for f in found if f.severity not in ("LOW", "INFO")]


def allowing(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The Allow statements of ``policy`` whose actions match ``action`` (wildcards included)."""
    return [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Allow" and any(fnmatch.fnmatch(action.lower(), a.lower()) for a in s["Action"])
    ]


def denying(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if s["Effect"] == "Deny" and action in s["Action"]]


def _plan(make_job: Callable[..., CompiledJob]) -> dict[str, Any]:
    job = make_job(secrets=("WANDB_API_KEY",))
    return offline_plan(job, AwsTarget().program(job))


def _resource(plan: dict[str, Any], typ: str) -> dict[str, Any]:
    [found] = [r for r in plan["resources"] if r["type"] == typ]
    return found


def test_every_iam_document_passes_parliament(make_job: Callable[..., CompiledJob]) -> None:
    """The deployer policy, the job boundary, the job's inline policy and the bucket policy: nothing above low."""
    plan = _plan(make_job)
    documents = {
        "deployer": json.dumps(iam.deployer_policy()),
        "boundary": json.dumps(iam.job_boundary_policy()),
        "instance": _resource(plan, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"],
        "bucket": _resource(plan, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"],
    }
    assert {name: findings_above_low(doc) for name, doc in documents.items()} == {name: [] for name in documents}


def test_roles_the_deployer_creates_must_carry_the_boundary() -> None:
    """CreateRole and PutRolePolicy are allowed only with the boundary; nothing can remove or widen it."""
    policy = iam.deployer_policy()
    for action in ("iam:CreateRole", "iam:PutRolePolicy"):
        statements = allowing(policy, action)
        assert statements, action
        assert all(s["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}} for s in statements), action
    for action in ESCALATING:
        assert allowing(policy, action) == [], action
    for action in ESCALATING[:4]:
        assert denying(policy, action), action


def test_pass_role_only_for_job_roles_to_ec2() -> None:
    """PassRole names only trainctl's roles and only EC2 may receive them."""
    [statement] = allowing(iam.deployer_policy(), "iam:PassRole")
    assert statement["Resource"] == ["arn:aws:iam::*:role/trainctl-*"]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_instances_are_launched_tagged_and_only_tagged_ones_changed() -> None:
    """RunInstances is denied without the managed-by request tag; terminate and tag need that tag on the resource."""
    policy = iam.deployer_policy()
    [deny] = [s for s in denying(policy, "ec2:RunInstances") if "aws:RequestTag/trainctl:managed-by" in json.dumps(s)]
    assert deny["Condition"] == {"StringNotEquals": {"aws:RequestTag/trainctl:managed-by": "trainctl"}}
    for kind in ("instance", "volume", "network-interface", "spot-instances-request"):
        assert f"arn:aws:ec2:*:*:{kind}/*" in deny["Resource"]
    for action in ("ec2:TerminateInstances", "ec2:CreateTags", "ec2:DeleteSecurityGroup", "ec2:DeleteLaunchTemplate"):
        statements = allowing(policy, action)
        assert statements and all("Condition" in s for s in statements), action
        assert all("*" not in s["Resource"] for s in statements), action


def test_no_s3_action_opens_a_bucket() -> None:
    """No s3:* and no ACL, website, CORS, replication or access-point action; storage only on trainctl-* buckets."""
    policy = iam.deployer_policy()
    for action in OPENS_BUCKETS:
        assert allowing(policy, action) == [], action
    for statement in policy["Statement"]:
        if any(a.startswith("s3:") for a in statement["Action"]):
            assert all(r.startswith("arn:aws:s3:::trainctl-") for r in statement["Resource"]), statement["Sid"]
            assert "s3:*" not in statement["Action"]


def test_docs_show_the_boundary_policy() -> None:
    """docs/aws.md's job boundary is exactly iam.job_boundary_policy()."""
    text = (REPO / "docs" / "aws.md").read_text()
    block = text.split("### The job roles' permissions boundary", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    assert json.loads(block) == iam.job_boundary_policy()


def test_job_role_carries_the_boundary(make_job: Callable[..., CompiledJob]) -> None:
    """The role the AWS program creates names the boundary of the caller's account (offline: 000000000000)."""
    role = _resource(_plan(make_job), "aws:iam/role:Role")
    assert role["inputs"]["permissionsBoundary"] == "arn:aws:iam::000000000000:policy/trainctl-job-boundary"


def test_bucket_denies_requests_without_tls(make_job: Callable[..., CompiledJob]) -> None:
    """The artifact bucket carries a policy denying every request with aws:SecureTransport false."""
    plan = _plan(make_job)
    [statement] = iam.statements(_resource(plan, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"])
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == ["s3:*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bucket = _resource(plan, "aws:s3/bucket:Bucket")["inputs"]["bucket"]
    assert sorted(statement["Resource"]) == sorted(f"arn:aws:s3:::{bucket}{suffix}" for suffix in ("", "/*"))


def test_security_group_description_matches_its_egress(make_job: Callable[..., CompiledJob]) -> None:
    """The group says what it does: no inbound, all outbound traffic (its one egress rule is all protocols)."""
    group = _resource(_plan(make_job), "aws:ec2/securityGroup:SecurityGroup")["inputs"]
    assert group["ingress"] == []
    [egress] = group["egress"]
    assert egress["protocol"] == "-1" and egress["cidrBlocks"] == ["0.0.0.0/0"]
    assert group["description"].endswith("no inbound (SSM instead of SSH); all outbound traffic")
    assert egress["description"].startswith("all outbound traffic")


def test_adopting_a_bucket_checks_its_owner(moto: MotoServer, make_job: Callable[..., CompiledJob]) -> None:
    """A resumed job's existing bucket is adopted with HeadBucket naming this account as ExpectedBucketOwner."""
    job = make_job()
    s3 = aws.client("s3", region="us-east-1")
    s3.create_bucket(Bucket=names.bucket_name(job.job_id))
    seen: list[dict[str, Any]] = []
    s3.meta.events.register("provide-client-params.s3.HeadBucket", lambda params, **_: seen.append(dict(params)))
    existing = existing_storage(job, None)
    assert existing.bucket is True
    account = aws.client("sts", region="us-east-1").get_caller_identity()["Account"]
    assert seen == [{"Bucket": names.bucket_name(job.job_id), "ExpectedBucketOwner": account}]
    assert existing.account_id == account


def test_placement_groups_and_self_rules_only_on_trainctl_parts() -> None:
    """A multi-node job's placement group is created only tagged, deleted only when trainctl's; its security group's
    ingress rules are changed only on trainctl's groups."""
    policy = iam.deployer_policy()
    [deny] = [s for s in denying(policy, "ec2:CreatePlacementGroup") if "aws:RequestTag/trainctl:managed-by" in json.dumps(s)]
    assert "arn:aws:ec2:*:*:placement-group/*" in deny["Resource"]
    for action in ("ec2:DeletePlacementGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"):
        statements = allowing(policy, action)
        assert statements and all(s.get("Condition") for s in statements), action
    [launch] = allowing(policy, "ec2:RunInstances")
    assert "arn:aws:ec2:*:*:placement-group/*" in launch["Resource"]
