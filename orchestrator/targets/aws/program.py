"""The AWS job's Pulumi program: every resource of one job, declared through one tagged provider.

An explicit ``aws.Provider`` for the job's region carries the job tags as ``default_tags``, so every
taggable AWS resource is tagged without repeating them; the launch template and the launch itself tag
the instance, its volume and its network interface. Storage (bucket, its settings, the archives) and
the log group are retained on teardown (``down --purge`` deletes them); when they survive from an
earlier allocation of the same job they are adopted with ``import_`` instead of created again.

A multi-node job (``resources.nodes: N``) adds a cluster placement group (the nodes sit close, on a
low-latency network) and lets its security group admit all traffic from its own members (a
self-referencing rule; still nothing from anywhere else); on an instance type with EFA (``efa.py``) the
launch template's interface is an EFA one. Its N instances are one resource, launched all at once from
the one template (``instance.py``).

Read by the engine at `up`/`preview`, and by ``offline_plan`` under Pulumi's mock runtime: then the
config ``trainctl:offline`` is set and the program asks AWS nothing and writes no archives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import bootstrap, efa, iam, images, names
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


@dataclass(frozen=True)
class _Declaring:
    """What every part of the program shares: the job, its provider and the options its resources take."""

    job: CompiledJob
    provider: Any
    offline: bool
    endpoint: str | None
    existing: Existing  # retained storage to adopt, and the account

    @property
    def opts(self) -> Any:
        import pulumi

        return pulumi.ResourceOptions(provider=self.provider)

    @property
    def keep(self) -> Any:
        """Retained on teardown (storage and logs: `down --purge` deletes them)."""
        import pulumi

        return pulumi.ResourceOptions(provider=self.provider, retain_on_delete=True)

    @property
    def replace_first(self) -> Any:
        """Named resources: a replacement deletes the old one first (the name is taken)."""
        import pulumi

        return pulumi.ResourceOptions(provider=self.provider, delete_before_replace=True)


@dataclass(frozen=True)
class _Storage:
    bucket: Any
    settings: list[Any]
    objects: list[Any]
    log_group: Any
    code_key: str
    agent_key: str


@dataclass(frozen=True)
class _Group:
    """What a multi-node job's launch needs besides the template: where the nodes go, and where they learn their ranks."""

    placement: Any
    security_group: Any
    bucket: Any


def declare(job: CompiledJob) -> None:
    """Declare the job's resources (call inside a Pulumi program): the manifest first, then storage,
    secrets, identity, network and the instance, and the stack outputs trainctl records."""
    import pulumi
    import pulumi_aws as aws

    from orchestrator.targets.manifest import declare_manifest

    declare_manifest(job)  # job-level facts for the policy pack; everything below depends on it
    config = pulumi.Config(CONFIG_NAMESPACE)
    offline = bool(config.get_bool(StackConfig.OFFLINE))
    endpoint = None if offline else _endpoint()
    assert job.region is not None and job.spec.resources.instance_type is not None
    provider = aws.Provider(
        "aws", region=job.region, default_tags=aws.ProviderDefaultTagsArgs(tags=job.tags), **_endpoint_args(endpoint)
    )
    ctx = _Declaring(job, provider, offline, endpoint, Existing() if offline else existing_storage(job, endpoint))
    storage = _declare_storage(ctx)
    parameters = _declare_secrets(ctx, config.require_secret_object(StackConfig.SECRETS) if job.spec.secrets else None)
    policy, profile = _declare_identity(ctx, storage, parameters)
    group = _declare_security_group(ctx)
    template = _declare_launch_template(ctx, storage, profile, group)
    placement = _declare_placement_group(ctx) if _nodes(ctx) > 1 else None
    instance = _declare_instance(
        ctx,
        template,
        [policy, profile, storage.log_group, *storage.objects, *parameters, *storage.settings],
        _Group(placement, group, storage.bucket) if placement is not None else None,
    )
    pulumi.export("bucket", storage.bucket.bucket)
    pulumi.export("artifacts", storage.bucket.bucket.apply(lambda b: f"s3://{b}"))
    pulumi.export("log_group", storage.log_group.name)
    pulumi.export("region", job.region)
    pulumi.export("launch_template_id", template.id)
    pulumi.export("instance_id", instance.instance_id)
    pulumi.export("purchased", instance.purchased)
    if placement is not None:
        pulumi.export("nodes", _nodes(ctx))
        pulumi.export("instance_ids", instance.instance_ids)
        pulumi.export("node_addrs", instance.private_ips)
        pulumi.export("placement_group", placement.name)


def _declare_storage(ctx: _Declaring) -> _Storage:
    """The retained bucket (private, encrypted, versioned, old versions expire) with the archives the
    instance downloads, and the retained log group; adopted when an earlier allocation left them."""
    import pulumi
    import pulumi_aws as aws

    from orchestrator.targets.aws.bundles import agent_bundle, code_bundle

    job, keep, existing = ctx.job, ctx.keep, ctx.existing
    bucket_name = names.bucket_name(job.job_id)
    bucket = aws.s3.Bucket(
        "artifacts", bucket=bucket_name, opts=pulumi.ResourceOptions.merge(keep, _adopt(pulumi, existing.bucket, bucket_name))
    )
    settings = _bucket_settings(ctx, bucket)
    archives_dir = job.run_dir / "bundles"
    code = code_bundle(job.workdir, archives_dir, write=not ctx.offline)
    agent = agent_bundle(archives_dir, write=not ctx.offline)
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
    log_group_name = names.log_group_name(job.job_id)
    log_group = aws.cloudwatch.LogGroup(
        "logs",
        name=log_group_name,
        retention_in_days=names.LOG_RETENTION_DAYS,
        opts=pulumi.ResourceOptions.merge(keep, _adopt(pulumi, existing.log_group, log_group_name)),
    )
    return _Storage(bucket, settings, objects, log_group, code.key, agent.key)


def _bucket_settings(ctx: _Declaring, bucket: Any) -> list[Any]:
    """No public access, encryption at rest, versioning, TLS only, and expiry of old versions and stale uploads."""
    import pulumi
    import pulumi_aws as aws

    keep = ctx.keep
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
    return settings


def _declare_secrets(ctx: _Declaring, secret_values: Any) -> list[Any]:
    """One SecureString parameter per secret, which the instance reads at boot."""
    import pulumi_aws as aws

    job_id = ctx.job.job_id
    return [
        aws.ssm.Parameter(
            f"secret-{name}",
            name=names.secret_parameter(job_id, name),
            type="SecureString",
            value=_secret(secret_values, name),
            description=f"trainctl job {job_id}: secret {name}",
            opts=ctx.opts,
        )
        for name in ctx.job.spec.secrets
    ]


def _declare_identity(ctx: _Declaring, storage: _Storage, parameters: list[Any]) -> tuple[Any, Any]:
    """The instance's role (its artifacts, its log group, its secrets: nothing else) and its profile."""
    import pulumi
    import pulumi_aws as aws

    job_id = ctx.job.job_id
    resource_name = names.resource_name(job_id)
    role = aws.iam.Role(
        "role",
        name=resource_name,
        assume_role_policy=iam.trust_policy(),
        permissions_boundary=iam.boundary_arn(ctx.existing.account_id),
        description=f"trainctl job {job_id}: its artifacts, its log group, SSM",
        opts=ctx.replace_first,
    )
    policy = aws.iam.RolePolicy(
        "role-policy",
        role=role.id,
        name="trainctl-job",
        policy=pulumi.Output.all(storage.bucket.arn, storage.log_group.arn, *[p.arn for p in parameters]).apply(
            lambda arns: iam.instance_policy(arns[0], arns[1], arns[2:])
        ),
        opts=ctx.opts,
    )
    profile = aws.iam.InstanceProfile("instance-profile", name=resource_name, role=role.name, opts=ctx.replace_first)
    return policy, profile


def _declare_security_group(ctx: _Declaring) -> Any:
    """No inbound rule from anywhere (SSM instead of SSH); all outbound traffic. A multi-node job's group
    also admits all traffic from its own members, and sends to them explicitly (EFA needs both rules)."""
    import pulumi_aws as aws

    job_id = ctx.job.job_id
    every: dict[str, Any] = {"protocol": "-1", "from_port": 0, "to_port": 0}
    egress = [
        aws.ec2.SecurityGroupEgressArgs(
            description="all outbound traffic (S3, SSM, CloudWatch, package mirrors, what the job calls)",
            cidr_blocks=["0.0.0.0/0"],
            ipv6_cidr_blocks=["::/0"],
            **every,
        )
    ]
    ingress: list[aws.ec2.SecurityGroupIngressArgs] = []
    description = f"trainctl job {job_id}: no inbound (SSM instead of SSH); all outbound traffic"
    if _nodes(ctx) > 1:  # self-referencing: the group's own members, nobody else
        ingress.append(aws.ec2.SecurityGroupIngressArgs(description="all traffic from the job's other nodes", self=True, **every))
        egress.append(aws.ec2.SecurityGroupEgressArgs(description="all traffic to the job's other nodes", self=True, **every))
        description = f"trainctl job {job_id}: inbound only from its own nodes (SSM instead of SSH); all outbound traffic"
    return aws.ec2.SecurityGroup(
        "security-group",
        name=names.resource_name(job_id),
        description=description,
        ingress=ingress,
        egress=egress,
        revoke_rules_on_delete=True,
        opts=ctx.replace_first,
    )


def _declare_placement_group(ctx: _Declaring) -> Any:
    """A cluster placement group: the nodes of a multi-node job on one low-latency network segment."""
    import pulumi_aws as aws

    return aws.ec2.PlacementGroup(
        "placement-group", name=names.resource_name(ctx.job.job_id), strategy="cluster", opts=ctx.replace_first
    )


def _declare_launch_template(ctx: _Declaring, storage: _Storage, profile: Any, group: Any) -> Any:
    """The instance as launched: image, type, profile, IMDSv2 only, an encrypted gp3 root volume, the
    boot script, terminate on shutdown, and the job tags on the instance, its volume and its interface."""
    import pulumi_aws as aws

    job = ctx.job
    resources = job.spec.resources
    assert resources.instance_type is not None
    network: dict[str, Any] = {"vpc_security_group_ids": [group.id]}
    if _efa(ctx):  # the security group rides on the EFA interface (EC2 refuses both)
        network = {"network_interfaces": [{**_EFA_INTERFACE, "security_groups": [group.id]}]}
    return aws.ec2.LaunchTemplate(
        "launch-template",
        name=names.resource_name(job.job_id),
        description=f"trainctl job {job.job_id}",
        image_id=_image(ctx),
        instance_type=resources.instance_type,
        iam_instance_profile={"arn": profile.arn},
        **network,
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
                    "volume_size": _root_gb(ctx),
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }
        ],
        instance_initiated_shutdown_behavior="terminate",
        user_data=bootstrap.encoded_user_data(job, code_key=storage.code_key, agent_key=storage.agent_key),
        tag_specifications=[{"resource_type": kind, "tags": job.tags} for kind in ("instance", "volume", "network-interface")],
        update_default_version=True,
        opts=ctx.replace_first,
    )


def _declare_instance(ctx: _Declaring, template: Any, after: list[Any], group: _Group | None) -> Any:
    """The training instance (a multi-node job: its N instances, one resource), launched from the template
    once everything it needs (``after``) exists: spot (with on-demand fallback if the spec allows it) or
    on-demand, the whole group in one market."""
    import pulumi

    from orchestrator.targets.aws.instance import TrainingInstance

    resources = ctx.job.spec.resources
    market: dict[str, Any] = {"market": "on-demand"}
    if resources.spot:
        market = {"market": "spot", "spot_options": dict(SPOT_OPTIONS), "on_demand_fallback": resources.on_demand_fallback}
    nodes: dict[str, Any] = {}
    if group is not None:
        nodes = {
            "count": resources.nodes,
            "placement_group": group.placement.name,
            "bucket": group.bucket.bucket,
            "master_port": names.MASTER_PORT,
        }
        if _efa(ctx):
            nodes["efa_security_group"] = group.security_group.id
    return TrainingInstance(
        "instance",
        {
            **market,
            **nodes,
            "launch_template_id": template.id,
            "launch_template_version": template.latest_version.apply(str),
            "disk_gb": _root_gb(ctx),
            "image_override": resources.ami,
            "image": _image(ctx),
            "instance_type": resources.instance_type,
            "region": ctx.job.region,
            "endpoint_url": ctx.endpoint,
            "tags": ctx.job.tags,
        },
        pulumi.ResourceOptions(depends_on=after),
    )


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


_EFA_INTERFACE = {"device_index": 0, "network_card_index": 0, "interface_type": "efa", "delete_on_termination": "true"}


def _nodes(ctx: _Declaring) -> int:
    return ctx.job.spec.resources.nodes


def _efa(ctx: _Declaring) -> bool:
    """A multi-node job on an instance type with EFA gets an EFA interface (one node has no peer to talk to)."""
    instance_type = ctx.job.spec.resources.instance_type
    return _nodes(ctx) > 1 and instance_type is not None and efa.supports_efa(instance_type)


def _image(ctx: _Declaring) -> str:
    resources = ctx.job.spec.resources
    assert resources.instance_type is not None
    return bootstrap.image_id(resources.instance_type, resources.ami)


def _root_gb(ctx: _Declaring) -> int:
    """Never below the image's root snapshot (EC2 refuses it); the launch checks the image it boots again."""
    resources = ctx.job.spec.resources
    assert resources.instance_type is not None
    return images.known_root_volume(resources.instance_type, resources.disk_gb, resources.ami).effective_gb


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
