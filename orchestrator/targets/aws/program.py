"""The AWS job's Pulumi program: every resource of one job, declared through one tagged provider.

An explicit ``aws.Provider`` for the job's region carries the job tags as ``default_tags``, so every
taggable AWS resource is tagged without repeating them; the launch template and the launch itself tag
the instance, its volume and its network interface. Storage (bucket, its settings, the archives) and
the log group are retained on teardown (``down --purge`` deletes them); when they survive from an
earlier allocation of the same job they are adopted with ``import_`` instead of created again.

Read by the engine at `up`/`preview`, and by ``offline_plan`` under Pulumi's mock runtime: then the
config ``trainctl:offline`` is set and the program asks AWS nothing and writes no archives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import bootstrap, iam, images, names
from orchestrator.targets.aws.compute import SPOT_OPTIONS
from orchestrator.vocabulary import CONFIG_NAMESPACE, StackConfig

ENDPOINT_SERVICES = ("cloudwatchlogs", "ec2", "iam", "s3", "ssm", "sts")
OFFLINE_ACCOUNT = "000000000000"  # the account of offline plans (the mock runtime's ARNs use it too)


@dataclass(frozen=True)
class Existing:
    """Retained storage of an earlier allocation of this job, to adopt rather than create."""

    bucket: bool = False
    log_group: bool = False
    account_id: str = OFFLINE_ACCOUNT  # whose job boundary the role carries; the owner the bucket must have


def declare(job: CompiledJob) -> None:
    """Declare the job's resources (call inside a Pulumi program)."""
    import pulumi
    import pulumi_aws as aws

    from orchestrator.targets.aws.bundles import agent_bundle, code_bundle
    from orchestrator.targets.aws.instance import TrainingInstance
    from orchestrator.targets.manifest import declare_manifest

    declare_manifest(job)  # job-level facts for the policy pack; everything below depends on it
    config = pulumi.Config(CONFIG_NAMESPACE)
    offline = bool(config.get_bool(StackConfig.OFFLINE))
    endpoint = None if offline else _endpoint()
    existing = Existing() if offline else existing_storage(job, endpoint)
    spec, job_id, region = job.spec, job.job_id, job.region
    assert region is not None and spec.resources.instance_type is not None
    provider = aws.Provider(
        "aws", region=region, default_tags=aws.ProviderDefaultTagsArgs(tags=job.tags), **_endpoint_args(endpoint)
    )
    opts = pulumi.ResourceOptions(provider=provider)
    keep = pulumi.ResourceOptions(provider=provider, retain_on_delete=True)

    # -- storage: artifacts, checkpoints, status, the archives the instance downloads --------------
    bucket_name = names.bucket_name(job_id)
    bucket = aws.s3.Bucket(
        "artifacts", bucket=bucket_name, opts=pulumi.ResourceOptions.merge(keep, _adopt(pulumi, existing.bucket, bucket_name))
    )
    settings = [
        aws.s3.BucketPublicAccessBlock(
            "artifacts-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=keep,
        ),
        aws.s3.BucketServerSideEncryptionConfiguration(
            "artifacts-encryption",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}],
            opts=keep,
        ),
        aws.s3.BucketVersioning(
            "artifacts-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=keep
        ),
    ]
    settings.append(  # after the public access block: a Deny-only policy, never a public one
        aws.s3.BucketPolicy(
            "artifacts-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(iam.tls_only_bucket_policy),
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=settings[:1])),
        )
    )
    settings.append(
        aws.s3.BucketLifecycleConfiguration(
            "artifacts-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-old-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": names.NONCURRENT_VERSION_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=settings)),
        )
    )
    archives_dir = job.run_dir / "bundles"
    code = code_bundle(job.workdir, archives_dir, write=not offline)
    agent = agent_bundle(archives_dir, write=not offline)
    after_settings = pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=settings))
    objects = [
        aws.s3.BucketObjectv2(
            label,
            bucket=bucket.id,
            key=bundle.key,
            source=pulumi.FileAsset(str(bundle.path)),
            content_type="application/gzip",
            opts=after_settings,
        )
        for label, bundle in (("code-bundle", code), ("agent-bundle", agent))
    ]
    log_group_name = names.log_group_name(job_id)
    log_group = aws.cloudwatch.LogGroup(
        "logs",
        name=log_group_name,
        retention_in_days=names.LOG_RETENTION_DAYS,
        opts=pulumi.ResourceOptions.merge(keep, _adopt(pulumi, existing.log_group, log_group_name)),
    )

    # -- secrets: SecureString parameters the instance reads at boot ---------------------------------
    secret_values = config.require_secret_object(StackConfig.SECRETS) if spec.secrets else None
    parameters = [
        aws.ssm.Parameter(
            f"secret-{name}",
            name=names.secret_parameter(job_id, name),
            type="SecureString",
            value=_secret(secret_values, name),
            description=f"trainctl job {job_id}: secret {name}",
            opts=opts,
        )
        for name in spec.secrets
    ]

    # -- identity: what the instance may do ------------------------------------------------------------
    resource_name = names.resource_name(job_id)
    replace_first = pulumi.ResourceOptions(provider=provider, delete_before_replace=True)
    role = aws.iam.Role(
        "role",
        name=resource_name,
        assume_role_policy=iam.trust_policy(),
        permissions_boundary=iam.boundary_arn(existing.account_id),
        description=f"trainctl job {job_id}: its artifacts, its log group, SSM",
        opts=replace_first,
    )
    policy = aws.iam.RolePolicy(
        "role-policy",
        role=role.id,
        name="trainctl-job",
        policy=pulumi.Output.all(bucket.arn, log_group.arn, *[p.arn for p in parameters]).apply(
            lambda arns: iam.instance_policy(arns[0], arns[1], arns[2:])
        ),
        opts=opts,
    )
    profile = aws.iam.InstanceProfile("instance-profile", name=resource_name, role=role.name, opts=replace_first)

    # -- network and compute -------------------------------------------------------------------------------
    group = aws.ec2.SecurityGroup(
        "security-group",
        name=resource_name,
        description=f"trainctl job {job_id}: no inbound (SSM instead of SSH); all outbound traffic",
        ingress=[],
        egress=[
            {
                "description": "all outbound traffic (S3, SSM, CloudWatch, package mirrors, what the job calls)",
                "protocol": "-1",
                "from_port": 0,
                "to_port": 0,
                "cidr_blocks": ["0.0.0.0/0"],
                "ipv6_cidr_blocks": ["::/0"],
            }
        ],
        revoke_rules_on_delete=True,
        opts=replace_first,
    )
    image = bootstrap.image_id(spec.resources.instance_type, spec.resources.ami)
    # Never below the image's root snapshot (EC2 refuses it); the launch checks the image it boots again.
    root_gb = images.known_root_volume(spec.resources.instance_type, spec.resources.disk_gb, spec.resources.ami).effective_gb
    template = aws.ec2.LaunchTemplate(
        "launch-template",
        name=resource_name,
        description=f"trainctl job {job_id}",
        image_id=image,
        instance_type=spec.resources.instance_type,
        iam_instance_profile={"arn": profile.arn},
        vpc_security_group_ids=[group.id],
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "disabled",
        },
        block_device_mappings=[
            {
                "device_name": bootstrap.ROOT_DEVICE,
                "ebs": {
                    "volume_size": root_gb,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }
        ],
        instance_initiated_shutdown_behavior="terminate",
        user_data=bootstrap.encoded_user_data(job, code_key=code.key, agent_key=agent.key),
        tag_specifications=[{"resource_type": kind, "tags": job.tags} for kind in ("instance", "volume", "network-interface")],
        update_default_version=True,
        opts=replace_first,
    )
    market: dict[str, Any] = {"market": "on-demand"}
    if spec.resources.spot:
        market = {
            "market": "spot",
            "spot_options": dict(SPOT_OPTIONS),
            "on_demand_fallback": spec.resources.on_demand_fallback,
        }
    instance = TrainingInstance(
        "instance",
        {
            **market,
            "launch_template_id": template.id,
            "launch_template_version": template.latest_version.apply(str),
            "disk_gb": root_gb,
            "image_override": spec.resources.ami,
            "image": image,
            "instance_type": spec.resources.instance_type,
            "region": region,
            "endpoint_url": endpoint,
            "tags": job.tags,
        },
        pulumi.ResourceOptions(depends_on=[policy, profile, log_group, *objects, *parameters, *settings]),
    )
    pulumi.export("bucket", bucket.bucket)
    pulumi.export("artifacts", bucket.bucket.apply(lambda b: f"s3://{b}"))
    pulumi.export("log_group", log_group.name)
    pulumi.export("region", region)
    pulumi.export("launch_template_id", template.id)
    pulumi.export("instance_id", instance.instance_id)
    pulumi.export("purchased", instance.purchased)


def existing_storage(job: CompiledJob, endpoint: str | None) -> Existing:
    """Which retained storage of this job already exists (asked at `up`/`preview`, never offline)."""
    from orchestrator.cloud import aws
    from orchestrator.errors import CloudError

    bucket_name, group_name = names.bucket_name(job.job_id), names.log_group_name(job.job_id)
    sts = aws.client("sts", region=job.region, endpoint_url=endpoint)
    account_id = str(aws.call("reading the account id (sts GetCallerIdentity)", sts.get_caller_identity)["Account"])
    s3 = aws.client("s3", region=job.region, endpoint_url=endpoint)
    try:
        with aws.calling("checking the job's bucket (s3 HeadBucket)", bucket=bucket_name):
            s3.head_bucket(Bucket=bucket_name, ExpectedBucketOwner=account_id)  # adopt only a bucket of this account
        bucket = True
    except CloudError as e:
        if not aws.is_not_found(e):
            if aws.error_code(e) in ("403", "AccessDenied"):
                raise CloudError(
                    f"bucket {bucket_name} exists but this AWS identity cannot use it",
                    context={"bucket": bucket_name},
                    hint="another account owns that name, or your policy lacks s3 access to trainctl-* buckets; "
                    "`trainctl up --new` picks a new job id",
                ) from e
            raise
        bucket = False
    logs = aws.client("logs", region=job.region, endpoint_url=endpoint)
    with aws.calling("checking the job's log group (logs DescribeLogGroups)", log_group=group_name):
        groups = logs.describe_log_groups(logGroupNamePrefix=group_name).get("logGroups", [])
    adopt_group = any(g.get("logGroupName") == group_name for g in groups)
    return Existing(bucket=bucket, log_group=adopt_group, account_id=account_id)


def _secret(values: Any, name: str) -> Any:
    """One secret out of the (secret) ``trainctl:secrets`` config object; it stays secret."""
    return values.apply(lambda found: str(found[name]))


def _adopt(pulumi: Any, exists: bool, resource_id: str) -> Any:
    return pulumi.ResourceOptions(import_=resource_id) if exists else None


def _endpoint() -> str | None:
    from orchestrator.cloud.aws import configured_endpoint

    return configured_endpoint()


def _endpoint_args(endpoint: str | None) -> dict[str, Any]:
    """Provider settings for an AWS-compatible endpoint (an emulator); nothing for real AWS."""
    if not endpoint:
        return {}
    return {
        "endpoints": [{service: endpoint for service in ENDPOINT_SERVICES}],
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "s3_use_path_style": True,
    }
