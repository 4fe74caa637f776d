"""private-artifacts: S3 buckets block public access and encrypt at rest.

A stack-wide check, as the settings live on resources of their own (public access block, encryption
configuration) that name their bucket. The engine runs stack checks at the end of a preview (and
after an update), so `trainctl plan`/`check` are where this one stops a deployment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from orchestrator.policy.model import COMPUTED, Finding, PolicyDef, Props, Resource
from trainctl_policies._common import flag, items, known, obj

BUCKETS = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
ACLS = frozenset({"aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"})
FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
BLOCK_FIX = "declare an aws.s3.BucketPublicAccessBlock for the bucket with all four block/ignore/restrict settings True"
ENCRYPTION_FIX = "declare an aws.s3.BucketServerSideEncryptionConfiguration for the bucket (sse_algorithm AES256 or aws:kms)"


def check_stack(resources: Sequence[Resource], config: Props) -> Iterator[Finding]:
    """Each bucket has an all-blocking public access block and an encryption configuration; no public ACLs."""
    buckets = [r for r in resources if r.type in BUCKETS]
    blocks = [r for r in resources if r.type == BLOCK]
    encryptions = [r for r in resources if r.type in ENCRYPTION]
    for block in blocks:
        off = [f for f in FLAGS if flag(block.props.get(f)) is False]
        if off:
            yield Finding(f"public access block leaves {', '.join(off)} off", BLOCK_FIX, block)
    for encryption in encryptions:
        if not _encrypts(items(encryption.props.get("rules"))):
            yield Finding("encryption configuration names no AES256 or aws:kms default", ENCRYPTION_FIX, encryption)
    for acl in [r for r in resources if r.type in ACLS or r.type in BUCKETS]:
        if acl.props.get("acl") in PUBLIC_ACLS:
            yield Finding(
                f"canned ACL {acl.props['acl']} makes objects public", "remove the ACL (buckets are private by default)", acl
            )
    for bucket in buckets:
        name = _bucket_name(bucket)
        if not any(_names(r, bucket, buckets) for r in blocks):
            yield Finding(f"bucket {name} has no public access block", BLOCK_FIX, bucket)
        inline = _encrypts([obj(bucket.props.get("serverSideEncryptionConfiguration")).get("rule")])
        if not inline and not any(_names(r, bucket, buckets) for r in encryptions):
            yield Finding(f"bucket {name} has no server-side encryption configuration", ENCRYPTION_FIX, bucket)


def _encrypts(rules: list[object]) -> bool:
    """Whether one of the rules sets a default server-side encryption algorithm."""
    algorithms = [obj(obj(rule).get("applyServerSideEncryptionByDefault")).get("sseAlgorithm") for rule in rules]
    return any(a in ALGORITHMS or a == COMPUTED for a in algorithms)


def _names(setting: Resource, bucket: Resource, buckets: Sequence[Resource]) -> bool:
    """Whether ``setting`` (its ``bucket`` input) is about ``bucket``."""
    if bucket.urn and bucket.urn in setting.deps.get("bucket", ()):
        return True
    ref = setting.props.get("bucket")
    if not known(ref):
        return len(buckets) == 1 and not setting.deps.get("bucket")
    return ref in {bucket.props.get("bucket"), bucket.props.get("id"), bucket.name} - {None, COMPUTED}


def _bucket_name(bucket: Resource) -> str:
    name = bucket.props.get("bucket")
    return str(name) if known(name) else bucket.name


POLICY = PolicyDef(
    name="private-artifacts",
    description="S3 buckets block public access and are encrypted at rest.",
    enforcement="mandatory",
    check_stack=check_stack,
    remediation="Give every bucket a BucketPublicAccessBlock (all four settings on) and a server-side encryption configuration.",
)
