"""Which IAM action an AWS API call needs, and whether a policy document allows it (by action only).

Most IAM actions are ``prefix:Operation``; the prefix differs from the boto3 service name for a few
services, and S3 names several operations after the permission they share (HeadObject is s3:GetObject).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

PREFIXES = {"resourcegroupstaggingapi": "tag", "service-quotas": "servicequotas"}
# Operations whose IAM action is not named after them (AWS's Service Authorization Reference).
S3_ACTIONS = {
    "HeadBucket": ["s3:ListBucket"],
    "ListObjects": ["s3:ListBucket"],
    "ListObjectsV2": ["s3:ListBucket"],
    "ListObjectVersions": ["s3:ListBucketVersions"],
    "ListMultipartUploads": ["s3:ListBucketMultipartUploads"],
    "HeadObject": ["s3:GetObject"],
    "DeleteObjects": ["s3:DeleteObject"],
    "CreateMultipartUpload": ["s3:PutObject"],
    "UploadPart": ["s3:PutObject"],
    "CompleteMultipartUpload": ["s3:PutObject"],
    "CopyObject": ["s3:GetObject", "s3:PutObject"],
    "GetBucketEncryption": ["s3:GetEncryptionConfiguration"],
    "PutBucketEncryption": ["s3:PutEncryptionConfiguration"],
    "GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
    "PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
    "GetPublicAccessBlock": ["s3:GetBucketPublicAccessBlock"],
    "PutPublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "DeleteBucketEncryption": ["s3:PutEncryptionConfiguration"],
}


def iam_action(service: str, operation: str) -> list[str]:
    """The IAM actions a call of ``operation`` on boto3 ``service`` needs."""
    if service == "s3" and operation in S3_ACTIONS:
        return S3_ACTIONS[operation]
    return [f"{PREFIXES.get(service, service)}:{operation}"]


def allowed(policy: dict[str, Any], action: str) -> bool:
    """Whether some Allow statement names ``action`` (wildcards honoured) and no unconditional Deny does."""
    verdicts = [s["Effect"] for s in policy["Statement"] if _names(s, action)]
    unconditional_deny = any(s["Effect"] == "Deny" and "Condition" not in s for s in policy["Statement"] if _names(s, action))
    return "Allow" in verdicts and not unconditional_deny


def _names(statement: dict[str, Any], action: str) -> bool:
    patterns = statement.get("Action", [])
    patterns = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)
