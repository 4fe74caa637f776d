"""IAM documents of a job: pure functions from ARNs to JSON, so tests and `plan` read them as they are.

The instance may read and write only its job's bucket, write only its job's log group, read only its
job's secret parameters, and use Systems Manager (Session Manager instead of SSH). The only statement
on ``*`` holds the SSM agent's channel actions, which take no resource ARN at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

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


def deployer_policy() -> dict[str, Any]:
    """What the identity running `trainctl up/down` on AWS needs (printed in docs/aws.md)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "JobStorage",
                "Effect": "Allow",
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::trainctl-*", "arn:aws:s3:::trainctl-*/*"],
            },
            {
                "Sid": "JobLogs",
                "Effect": "Allow",
                "Action": ["logs:*"],
                "Resource": ["arn:aws:logs:*:*:log-group:/trainctl/jobs/*", "arn:aws:logs:*:*:log-group:/trainctl/jobs/*:*"],
            },
            {"Sid": "DescribeLogGroups", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
            {
                "Sid": "JobRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:PutRolePolicy",
                    "iam:GetRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:ListInstanceProfilesForRole",
                    "iam:CreateInstanceProfile",
                    "iam:DeleteInstanceProfile",
                    "iam:GetInstanceProfile",
                    "iam:TagInstanceProfile",
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                ],
                "Resource": ["arn:aws:iam::*:role/trainctl-*", "arn:aws:iam::*:instance-profile/trainctl-*"],
            },
            {
                "Sid": "PassJobRoles",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": ["arn:aws:iam::*:role/trainctl-*"],
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
            {
                "Sid": "JobSecrets",
                "Effect": "Allow",
                "Action": [
                    "ssm:PutParameter",
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "ssm:DeleteParameter",
                    "ssm:AddTagsToResource",
                    "ssm:ListTagsForResource",
                ],
                "Resource": ["arn:aws:ssm:*:*:parameter/trainctl/*"],
            },
            {
                "Sid": "PublicAmiParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                "Resource": ["arn:aws:ssm:*::parameter/aws/service/*"],
            },
            {"Sid": "DescribeSsmParameters", "Effect": "Allow", "Action": ["ssm:DescribeParameters"], "Resource": ["*"]},
            {
                "Sid": "Compute",
                "Effect": "Allow",
                "Action": [
                    "ec2:Describe*",
                    "ec2:CreateSecurityGroup",
                    "ec2:DeleteSecurityGroup",
                    "ec2:RevokeSecurityGroupEgress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:CreateLaunchTemplate",
                    "ec2:CreateLaunchTemplateVersion",
                    "ec2:ModifyLaunchTemplate",
                    "ec2:DeleteLaunchTemplate",
                    "ec2:RunInstances",
                    "ec2:TerminateInstances",
                    "ec2:CreateTags",
                ],
                "Resource": ["*"],
            },
            {
                "Sid": "SpotServiceLinkedRole",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": ["arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"],
                "Condition": {"StringLike": {"iam:AWSServiceName": "spot.amazonaws.com"}},
            },
            {"Sid": "WhoAmI", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": ["*"]},
        ],
    }


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
