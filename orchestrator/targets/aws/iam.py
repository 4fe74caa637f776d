"""IAM documents of a job: pure functions from ARNs to JSON, so tests and `plan` read them as they are.

The instance may read and write only its job's bucket, write only its job's log group, read only its
job's secret parameters, and use Systems Manager (Session Manager instead of SSH). The only statement
on ``*`` holds the SSM agent's channel actions, which take no resource ARN at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from orchestrator.vocabulary import MANAGED_BY_VALUE, Tag

MANAGED_BY = Tag.MANAGED_BY.value

VERSION = "2012-10-17"
# The SSM agent's own calls (registration, Session Manager and Run Command channels): these actions
# support no resource-level scoping, so `*` is the narrowest resource they accept.
SSM_AGENT_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)
ARTIFACT_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")
BOUNDARY_POLICY_NAME = "trainctl-job-boundary"
BUCKETS, OBJECTS = "arn:aws:s3:::trainctl-*", "arn:aws:s3:::trainctl-*/*"
LOG_GROUPS = ("arn:aws:logs:*:*:log-group:/trainctl/jobs/*", "arn:aws:logs:*:*:log-group:/trainctl/jobs/*:*")
SECRETS = "arn:aws:ssm:*:*:parameter/trainctl/*"
ROLES, PROFILES = "arn:aws:iam::*:role/trainctl-*", "arn:aws:iam::*:instance-profile/trainctl-*"
# The deployer's actions, each list what trainctl calls (through Pulumi or boto3) and nothing that opens
# a bucket to others: no ACLs, website, CORS, replication, notifications or access points.
DEPLOYER_BUCKET_ACTIONS = (
    *("s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"),
    *("s3:GetBucketLocation", "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:GetBucketVersioning", "s3:PutBucketVersioning"),
    *("s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"),
    *("s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
    *("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    *("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketPolicyStatus"),
    *("s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetBucketLogging", "s3:GetBucketRequestPayment"),
    *("s3:GetBucketObjectLockConfiguration", "s3:GetBucketOwnershipControls", "s3:GetReplicationConfiguration"),
    "s3:GetAccelerateConfiguration",
)
DEPLOYER_OBJECT_ACTIONS = (
    *("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
    *("s3:AbortMultipartUpload", "s3:GetObjectTagging"),
)
# A team member on the shared backend: the engine reads, writes (and copies, for its .bak) stack objects
# and deletes locks; trainctl's store reads, writes and deletes its own objects; the KMS provider encrypts
# a stack's data key at `stack init` and decrypts it whenever the stack is operated.
TEAM_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
TEAM_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt")
DEPLOYER_LOG_ACTIONS = (
    *("logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy"),
    *("logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource", "logs:TagLogGroup", "logs:ListTagsLogGroup"),
    *("logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"),
)
DEPLOYER_SECRET_ACTIONS = (
    *("ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:DeleteParameter"),
    *("ssm:AddTagsToResource", "ssm:ListTagsForResource"),
)
DEPLOYER_ROLE_ACTIONS = (
    *("iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
    *("iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListInstanceProfilesForRole", "iam:CreateInstanceProfile"),
    *("iam:DeleteInstanceProfile", "iam:GetInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile"),
    "iam:RemoveRoleFromInstanceProfile",
)
# `gc` finds leaked resources by tag and lists roles and profiles to read their tags; these list actions
# take no resource ARN. Cleaning a leaked role up detaches what was attached to it.
DEPLOYER_INVENTORY_ACTIONS = ("tag:GetResources", "iam:ListRoles", "iam:ListInstanceProfiles")
DEPLOYER_ROLE_CLEANUP_ACTIONS = ("iam:ListRoleTags", "iam:DetachRolePolicy")
# The optional reporting commands (`cost --actual`, `cost activate-tags`, `prices refresh`): account-wide
# billing and price reads that take no resource ARN; granted by their own policy, `reporting_policy()`.
REPORTING_ACTIONS = (
    *("ce:GetCostAndUsage", "ce:UpdateCostAllocationTagsStatus"),
    *("pricing:GetProducts", "ec2:DescribeSpotPriceHistory"),
)
DEPLOYER_EC2_OWNED_ACTIONS = (
    *("ec2:TerminateInstances", "ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupEgress"),
    *("ec2:RevokeSecurityGroupEgress", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"),
    "ec2:DeleteLaunchTemplate",
    # A multi-node job: its security group's self-referencing rule, and its placement group.
    *("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeletePlacementGroup"),
)
# What a job creates besides instances (each tagged on create, each only as trainctl's).
JOB_PART_CREATES = ("CreateSecurityGroup", "CreateLaunchTemplate", "CreatePlacementGroup")


def trust_policy() -> str:
    """Only EC2 may assume the job's role."""
    return _document(
        [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    )


def instance_policy(bucket_arn: str, log_group_arn: str, secret_arns: Sequence[str] = ()) -> str:
    """The instance's permissions: this job's artifacts, log group and secrets; the SSM agent's channels."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ListArtifacts", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        {
            "Sid": "ReadWriteArtifacts",
            "Effect": "Allow",
            "Action": list(ARTIFACT_OBJECT_ACTIONS),
            "Resource": [f"{bucket_arn}/*"],
        },
        {
            "Sid": "WriteJobLogs",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": [log_group_arn, f"{log_group_arn}:*"],
        },
    ]
    if secret_arns:
        statements.append(
            {"Sid": "ReadJobSecrets", "Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": list(secret_arns)}
        )
    statements.append({"Sid": "SessionManager", "Effect": "Allow", "Action": list(SSM_AGENT_ACTIONS), "Resource": ["*"]})
    return _document(statements)


def job_boundary_policy() -> dict[str, Any]:
    """The permissions boundary every role trainctl creates must carry: the most any job may ever do.

    An administrator creates it once, as the managed policy ``BOUNDARY_POLICY_NAME`` (docs/aws.md).
    The deployer may create roles only with it attached, so no inline policy it writes can reach
    beyond: trainctl's buckets, its log groups, its secret parameters and the SSM agent's channels.
    """
    return {
        "Version": VERSION,
        "Statement": [
            {"Sid": "ListArtifacts", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [BUCKETS]},
            {"Sid": "ReadWriteArtifacts", "Effect": "Allow", "Action": list(ARTIFACT_OBJECT_ACTIONS), "Resource": [OBJECTS]},
            {"Sid": "WriteJobLogs", "Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": list(LOG_GROUPS)},
            {"Sid": "ReadJobSecrets", "Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": [SECRETS]},
            {"Sid": "SessionManager", "Effect": "Allow", "Action": list(SSM_AGENT_ACTIONS), "Resource": ["*"]},
        ],
    }


def boundary_arn(account_id: str) -> str:
    """The ARN of the job-role permissions boundary in ``account_id``."""
    return f"arn:aws:iam::{account_id}:policy/{BOUNDARY_POLICY_NAME}"


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """The artifact bucket's policy: every request that does not use TLS is denied."""
    return _document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def deployer_policy() -> dict[str, Any]:
    """What the identity running `trainctl up/down` on AWS needs (printed in docs/aws.md).

    It cannot escalate: every role it creates or changes carries the job boundary, it may pass only
    those roles and only to EC2, it launches, tags and terminates only instances tagged as trainctl's,
    and it has no S3 action that opens a bucket to others (no ACLs, website, CORS, replication,
    access points), and none on IAM policies.
    """
    return {"Version": VERSION, "Statement": [*_storage_statements(), *_identity_statements(), *_compute_statements()]}


def reporting_policy() -> dict[str, Any]:
    """What `cost --actual`, `cost activate-tags` and `prices refresh` need besides (or without) the deployer's
    policy (printed in docs/aws.md): Cost Explorer and the Pricing API, which scope by nothing but the account."""
    statement = {"Sid": "CostAndPrices", "Effect": "Allow", "Action": list(REPORTING_ACTIONS), "Resource": ["*"]}
    return {"Version": VERSION, "Statement": [statement]}


def team_member_policy(bucket: str, prefix: str, key_alias: str) -> dict[str, Any]:
    """What a member of a team needs on its backend (printed in docs/teams.md): the objects under the
    backend's prefix (the engine's stacks, history and locks, trainctl's job index, stack settings and
    team policy), and the team's KMS key, by its alias, to encrypt and decrypt stack secrets.

    Nothing else in the bucket, no bucket configuration, no key administration. Running jobs on AWS
    needs ``deployer_policy`` besides.
    """
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ListTheBackend",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{base}*"]}},
            },
            {
                "Sid": "BackendObjects",
                "Effect": "Allow",
                "Action": list(TEAM_OBJECT_ACTIONS),
                "Resource": [f"arn:aws:s3:::{bucket}/{base}*"],
            },
            {
                "Sid": "TeamSecretsKey",
                "Effect": "Allow",
                "Action": list(TEAM_KEY_ACTIONS),
                "Resource": ["arn:aws:kms:*:*:key/*"],
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [key_alias]}},
            },
        ],
    }


def _storage_statements() -> list[dict[str, Any]]:
    return [
        {"Sid": "JobBuckets", "Effect": "Allow", "Action": list(DEPLOYER_BUCKET_ACTIONS), "Resource": [BUCKETS]},
        {"Sid": "JobObjects", "Effect": "Allow", "Action": list(DEPLOYER_OBJECT_ACTIONS), "Resource": [OBJECTS]},
        {"Sid": "JobLogs", "Effect": "Allow", "Action": list(DEPLOYER_LOG_ACTIONS), "Resource": list(LOG_GROUPS)},
        {"Sid": "DescribeLogGroups", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
        {"Sid": "JobSecrets", "Effect": "Allow", "Action": list(DEPLOYER_SECRET_ACTIONS), "Resource": [SECRETS]},
        {
            "Sid": "PublicAmiParameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": ["arn:aws:ssm:*:*:parameter/aws/service/*"],
        },
        {"Sid": "DescribeSsmParameters", "Effect": "Allow", "Action": ["ssm:DescribeParameters"], "Resource": ["*"]},
    ]


def _identity_statements() -> list[dict[str, Any]]:
    with_boundary = {"ArnEquals": {"iam:PermissionsBoundary": boundary_arn("*")}}
    return [
        {
            "Sid": "JobRolesCarryTheBoundary",
            "Effect": "Allow",
            "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
            "Resource": [ROLES],
            "Condition": with_boundary,
        },
        {"Sid": "JobRoles", "Effect": "Allow", "Action": list(DEPLOYER_ROLE_ACTIONS), "Resource": [ROLES, PROFILES]},
        {
            "Sid": "KeepTheBoundary",
            "Effect": "Deny",
            "Action": [
                "iam:DeleteRolePermissionsBoundary",
                "iam:PutRolePermissionsBoundary",
                "iam:AttachRolePolicy",
                "iam:UpdateAssumeRolePolicy",
            ],
            "Resource": [ROLES],
        },
        {
            "Sid": "PassJobRoles",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [ROLES],
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            "Sid": "SpotServiceLinkedRole",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": ["arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"],
            "Condition": {"StringLike": {"iam:AWSServiceName": "spot.amazonaws.com"}},
        },
        {"Sid": "CleanUpJobRoles", "Effect": "Allow", "Action": list(DEPLOYER_ROLE_CLEANUP_ACTIONS), "Resource": [ROLES]},
        {"Sid": "WhoAmI", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": ["*"]},
        {"Sid": "FindLeakedResources", "Effect": "Allow", "Action": list(DEPLOYER_INVENTORY_ACTIONS), "Resource": ["*"]},
    ]


def _compute_statements() -> list[dict[str, Any]]:
    """EC2: launch, tag and change only what carries trainctl's tag (each Allow paired with a Deny that
    refuses a request or a resource without it, the way IAM scopes actions over several resource types)."""
    untagged_request = {"StringNotEquals": {f"aws:RequestTag/{MANAGED_BY}": MANAGED_BY_VALUE}}
    owned = {"StringEquals": {f"ec2:ResourceTag/{MANAGED_BY}": MANAGED_BY_VALUE}}
    not_owned = {"StringNotEquals": {f"ec2:ResourceTag/{MANAGED_BY}": MANAGED_BY_VALUE}}
    created = {"StringEquals": {"ec2:CreateAction": ["RunInstances", *JOB_PART_CREATES]}}
    creates = [f"ec2:{action}" for action in JOB_PART_CREATES]
    launched = [_ec2_arn(kind) for kind in ("instance", "volume", "network-interface", "spot-instances-request")]
    parts = [_ec2_arn("image", account=""), _ec2_arn("snapshot", account=""), _ec2_arn("subnet"), _ec2_arn("key-pair")]
    job_parts = [_ec2_arn("security-group"), _ec2_arn("launch-template"), _ec2_arn("placement-group")]
    return [
        {"Sid": "Describe", "Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": ["*"]},
        {"Sid": "QuotaPreflight", "Effect": "Allow", "Action": ["servicequotas:GetServiceQuota"], "Resource": ["*"]},
        {"Sid": "Launch", "Effect": "Allow", "Action": ["ec2:RunInstances"], "Resource": [*launched, *parts, *job_parts]},
        {
            "Sid": "LaunchOnlyTagged",
            "Effect": "Deny",
            "Action": ["ec2:RunInstances", *creates],
            "Resource": [*launched, *job_parts],
            "Condition": untagged_request,
        },
        {
            "Sid": "LaunchOnlyWithJobParts",
            "Effect": "Deny",
            "Action": ["ec2:RunInstances"],
            "Resource": job_parts,
            "Condition": not_owned,
        },
        {
            "Sid": "TagOnCreate",
            "Effect": "Allow",
            "Action": ["ec2:CreateTags"],
            "Resource": [*launched, *job_parts],
            "Condition": created,
        },
        {
            "Sid": "RetagJobResources",
            "Effect": "Allow",
            "Action": ["ec2:CreateTags"],
            "Resource": [*launched, *job_parts],
            "Condition": owned,
        },
        {
            "Sid": "CreateJobParts",
            "Effect": "Allow",
            "Action": creates,
            "Resource": [*job_parts, _ec2_arn("vpc")],
        },
        {
            "Sid": "ChangeJobParts",
            "Effect": "Allow",
            "Action": list(DEPLOYER_EC2_OWNED_ACTIONS),
            "Resource": [_ec2_arn("instance"), *job_parts],
            "Condition": owned,
        },
    ]


def _ec2_arn(kind: str, *, account: str = "*") -> str:
    return f"arn:aws:ec2:*:{account}:{kind}/*"


def statements(document: str) -> list[dict[str, Any]]:
    """The statements of a policy document, each with list-valued Action and Resource."""
    parsed = json.loads(document)
    out = []
    for statement in parsed["Statement"]:
        item = dict(statement)
        for field in ("Action", "Resource"):
            if isinstance(item.get(field), str):
                item[field] = [item[field]]
        out.append(item)
    return out


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": VERSION, "Statement": statements}, indent=1, sort_keys=True)
