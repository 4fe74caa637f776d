"""Leaks on AWS: resources tagged ``trainctl:managed-by=trainctl`` that no live stack holds.

Live resources are found by tag through the Resource Groups Tagging API (EC2, S3, CloudWatch Logs,
SSM), plus direct listings where that API is blind: IAM roles and instance profiles (never returned
by it), and launch templates (listed by tag with EC2 itself; emulators omit them). Terminated
instances stay listed by the tagging API for a while, so instance states are read with EC2. Each
resource is grouped by its ``trainctl:job-id`` tag and judged against that job's stack:

- a resource the stack holds (its ARN or id appears among the stack's resource ids and outputs) is live;
- anything of a job with a pending create in its state is live (the engine may be making it);
- anything of a job a trainctl operation holds (its lock, an engine process) is left alone;
- the retained artifacts (bucket, log group) of a job whose stack still exists, or that has a job
  record, are kept on purpose until `down --purge`;
- everything else (instance, security group, launch template, IAM role and instance profile, secret
  parameter, and orphaned artifacts) is a leak.

Regions searched: the default region and every region a job record or stack names. Every call runs
under the one retry policy (``aws.call``). With no AWS credentials configured the AWS side is skipped.
Resources are judged against the stacks of this backend: jobs whose stacks live on another backend in
the same account look leaked, so point gc at the backend the account's jobs share.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.cloud import aws
from orchestrator.errors import CloudError, InternalError, TransientCloudError
from orchestrator.gc.findings import Finding, StackFacts
from orchestrator.logs import get_logger
from orchestrator.targets.aws import names

if TYPE_CHECKING:
    from orchestrator.jobs.records import JobRecord
    from orchestrator.settings import Settings

MANAGED_TAG, MANAGED_VALUE, JOB_TAG = "trainctl:managed-by", "trainctl", "trainctl:job-id"
TAGGED_SERVICES = ["ec2", "s3", "logs", "ssm"]  # service-level type filters: the same names on AWS and emulators
RETAINED = ("bucket", "log-group")  # kept on purpose by teardown; removed by `down --purge`
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]
FILTER_VALUES_MAX = 200  # EC2 takes at most 200 values per filter
# Removal order: the instance first (its security group and profile are in use until it is gone).
ORDER = ("instance", "launch-template", "security-group", "parameter", "instance-profile", "role", "log-group", "bucket")
KIND_PREFIX = "leaked-aws-"
NO_STACK = "no stack of its job on this backend"
NOT_HELD = "its job's stack no longer holds it"
NO_STACK_NO_RECORD = "retained artifacts of a job with no stack on this backend and no job record"


@dataclass(frozen=True)
class Tagged:
    """One live AWS resource carrying trainctl's tags."""

    kind: str  # one of ORDER
    arn: str
    ident: str  # the id or name AWS APIs take: i-..., sg-..., a bucket or role name
    job_id: str


def aws_findings(settings: Settings, stacks: Mapping[str, StackFacts], records: Mapping[str, JobRecord]) -> list[Finding]:
    """Leaked AWS resources: tagged by trainctl, held by no live stack (see the module docstring)."""
    log = get_logger(__name__)
    if not aws.has_credentials():
        log.info("gc.aws.skipped", reason="no AWS credentials configured; only this machine was checked")
        return []
    regions = regions_of(settings.default_region, stacks, records)
    found = list_tagged(regions, settings.default_region)
    findings = []
    for resource in sorted(found, key=lambda r: (ORDER.index(r.kind), r.job_id, r.arn)):
        why = leak_reason(resource, stacks.get(resource.job_id), records.get(resource.job_id), settings)
        if why is not None:
            findings.append(Finding(KIND_PREFIX + resource.kind, resource.job_id, resource.arn, why))
    log.info("gc.aws.checked", regions=sorted(regions), tagged=len(found), leaked=len(findings))
    return findings


def remove_aws(finding: Finding) -> None:
    """Delete what ``finding`` names (already gone counts as removed); mark it ``removed``."""
    kind = finding.kind.removeprefix(KIND_PREFIX)
    remover = _REMOVERS.get(kind)
    if remover is None:
        raise InternalError(f"gc cannot remove {finding.kind} {finding.resource}")
    arn = parse_arn(finding.resource)
    remover(arn, ident_of(kind, arn))
    finding.removed = True


def leak_reason(resource: Tagged, facts: StackFacts | None, record: JobRecord | None, settings: Settings) -> str | None:
    """Why ``resource`` is a leak, or None when it is live or kept on purpose."""
    from orchestrator.gc.local import _busy

    if _busy(settings.home, resource.job_id, {resource.job_id: record} if record else {}):
        return None
    if facts is not None and (facts.has_pending_create or _held(resource, facts)):
        return None
    if resource.kind in RETAINED:
        if facts is not None or record is not None:
            return None  # retained artifacts of a known job: `down --purge` deletes them
        return NO_STACK_NO_RECORD
    if facts is None:
        return NO_STACK
    return NOT_HELD


def regions_of(default: str, stacks: Mapping[str, StackFacts], records: Mapping[str, JobRecord]) -> set[str]:
    """The default region and every region an AWS job record or a stack's AWS provider names."""
    regions = {default}
    for record in records.values():
        if record.target == "aws":
            region = record.outputs.get("region") or (record.spec.get("resources") or {}).get("region")
            if isinstance(region, str) and region:
                regions.add(region)
    for facts in stacks.values():
        for resource in facts.resources:
            if str(resource.get("type", "")).startswith("pulumi:providers:aws"):
                region = (resource.get("outputs") or resource.get("inputs") or {}).get("region")
                if isinstance(region, str) and region:
                    regions.add(region)
    return regions


def list_tagged(regions: Iterable[str], iam_region: str) -> list[Tagged]:
    """Every live resource tagged managed-by=trainctl in ``regions``, and trainctl's IAM roles and profiles."""
    found: dict[str, Tagged] = {}
    for region in sorted(regions):
        for resource in [*_tagging_api(region), *_launch_templates(region)]:
            found.setdefault(resource.arn, resource)
    for resource in _iam(iam_region):
        found.setdefault(resource.arn, resource)
    return list(found.values())


@dataclass(frozen=True)
class Arn:
    """The parts of an ARN gc needs."""

    text: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(text: str) -> Arn:
    """Split ``arn:partition:service:region:account:resource``."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise InternalError(f"not an ARN: {text!r}")
    return Arn(text, parts[2], parts[3], parts[4], parts[5])


def classify(arn: Arn, job_id: str) -> Tagged | None:
    """What kind of trainctl resource ``arn`` is; None for kinds gc leaves alone (volumes and network
    interfaces go with their instance, spot requests are one-time)."""
    kind = kind_of(arn)
    return Tagged(kind, arn.text, ident_of(kind, arn), job_id) if kind else None


def kind_of(arn: Arn) -> str | None:
    """``instance``, ``bucket``, ``role``... from the ARN's service and resource type."""
    if arn.service == "s3":
        return "bucket" if "/" not in arn.resource else None
    resource_type = arn.resource.split("/", 1)[0].split(":", 1)[0]
    return _KINDS.get((arn.service, resource_type))


def ident_of(kind: str, arn: Arn) -> str:
    """The id or name the service's APIs take for the resource."""
    if kind == "bucket":
        return arn.resource
    if kind == "log-group":
        return arn.resource.split(":", 1)[1].removesuffix(":*")
    rest = arn.resource.split("/", 1)[1]
    if kind == "parameter":
        return f"/{rest}" if "/" in rest else rest  # hierarchical names lose their leading slash in the ARN
    return rest.rsplit("/", 1)[-1]  # IAM names may sit under a path


_KINDS = {
    ("ec2", "instance"): "instance",
    ("ec2", "security-group"): "security-group",
    ("ec2", "launch-template"): "launch-template",
    ("logs", "log-group"): "log-group",
    ("ssm", "parameter"): "parameter",
    ("iam", "role"): "role",
    ("iam", "instance-profile"): "instance-profile",
}


# -- listing ---------------------------------------------------------------------------------------
def _tagging_api(region: str) -> list[Tagged]:
    tagging = _client("resourcegroupstaggingapi", region=region)
    filters = [{"Key": MANAGED_TAG, "Values": [MANAGED_VALUE]}]

    def listing() -> list[dict[str, Any]]:
        pages = tagging.get_paginator("get_resources").paginate(TagFilters=filters, ResourceTypeFilters=TAGGED_SERVICES)
        return [mapping for page in pages for mapping in page.get("ResourceTagMappingList", [])]

    mappings = aws.call("listing tagged resources (tagging GetResources)", listing, region=region)
    tagged = []
    for mapping in mappings:
        job_id = _tags(mapping.get("Tags")).get(JOB_TAG)
        resource = classify(parse_arn(mapping["ResourceARN"]), job_id) if job_id else None
        if resource is not None:
            tagged.append(resource)
    live = _live_instances(region, [t.ident for t in tagged if t.kind == "instance"])
    return [t for t in tagged if t.kind != "instance" or t.ident in live]


def _live_instances(region: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` are not terminated (the tagging API still lists terminated instances)."""
    ec2 = _client("ec2", region=region)

    def listing(chunk: list[str]) -> set[str]:
        filters = [{"Name": "instance-id", "Values": chunk}, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
        pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return {i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]}

    live: set[str] = set()
    for start in range(0, len(ids), FILTER_VALUES_MAX):
        chunk = functools.partial(listing, ids[start : start + FILTER_VALUES_MAX])
        live |= aws.call("reading instance states (ec2 DescribeInstances)", chunk, region=region)
    return live


def _launch_templates(region: str) -> list[Tagged]:
    ec2 = _client("ec2", region=region)
    filters = [{"Name": f"tag:{MANAGED_TAG}", "Values": [MANAGED_VALUE]}]

    def listing() -> list[dict[str, Any]]:
        pages = ec2.get_paginator("describe_launch_templates").paginate(Filters=filters)
        return [t for page in pages for t in page.get("LaunchTemplates", [])]

    templates = aws.call("listing launch templates (ec2 DescribeLaunchTemplates)", listing, region=region)
    if not templates:
        return []
    partition, account = _identity(region)
    found = []
    for template in templates:
        job_id = _tags(template.get("Tags")).get(JOB_TAG)
        if job_id:
            ident = template["LaunchTemplateId"]
            arn = f"arn:{partition}:ec2:{region}:{account}:launch-template/{ident}"
            found.append(Tagged("launch-template", arn, ident, job_id))
    return found


def _identity(region: str) -> tuple[str, str]:
    """The partition and account of the credentials in use (DescribeLaunchTemplates names neither)."""
    sts = _client("sts", region=region)
    caller = aws.call("reading the account id (sts GetCallerIdentity)", sts.get_caller_identity)
    return str(caller["Arn"]).split(":")[1], str(caller["Account"])


def _iam(region: str) -> list[Tagged]:
    """Roles and instance profiles named like a job's (``trainctl-*``) and tagged managed-by=trainctl."""
    iam = _client("iam", region=region)
    prefix = f"{names.PREFIX}-"

    def roles() -> list[dict[str, Any]]:
        return [
            r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"] if r["RoleName"].startswith(prefix)
        ]

    def profiles() -> list[dict[str, Any]]:
        pages = iam.get_paginator("list_instance_profiles").paginate()
        return [p for page in pages for p in page["InstanceProfiles"] if p["InstanceProfileName"].startswith(prefix)]

    found = []
    for role in aws.call("listing IAM roles (iam ListRoles)", roles):
        name = role["RoleName"]
        tags = role.get("Tags")
        if tags is None:  # ListRoles leaves tags out
            read = functools.partial(_all_tags, iam.list_role_tags, RoleName=name)
            tags = aws.call("reading role tags (iam ListRoleTags)", read, role=name)
        found += _if_ours("role", role["Arn"], name, tags)
    for profile in aws.call("listing instance profiles (iam ListInstanceProfiles)", profiles):
        name = profile["InstanceProfileName"]
        tags = profile.get("Tags")
        if tags is None:
            read = functools.partial(_all_tags, iam.list_instance_profile_tags, InstanceProfileName=name)
            tags = aws.call("reading instance profile tags (iam ListInstanceProfileTags)", read, instance_profile=name)
        found += _if_ours("instance-profile", profile["Arn"], name, tags)
    return found


def _all_tags(operation: Callable[..., dict[str, Any]], **request: Any) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    while True:
        page = operation(**request)
        tags += page.get("Tags", [])
        if not page.get("IsTruncated"):
            return tags
        request["Marker"] = page["Marker"]


def _if_ours(kind: str, arn: str, ident: str, tags: list[dict[str, str]] | None) -> list[Tagged]:
    values = _tags(tags)
    if values.get(MANAGED_TAG) != MANAGED_VALUE or not values.get(JOB_TAG):
        return []
    return [Tagged(kind, arn, ident, values[JOB_TAG])]


def _tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in tags or []}


def _held(resource: Tagged, facts: StackFacts) -> bool:
    """The stack names the resource: its ARN or id is a resource id or an output value in its state."""
    known: set[str] = set()
    for entry in facts.resources:
        known.add(str(entry.get("id") or ""))
        for value in (entry.get("outputs") or {}).values():
            values = value if isinstance(value, list) else [value]
            known.update(v for v in values if isinstance(v, str))
    return resource.arn in known or resource.ident in known


# -- removal ---------------------------------------------------------------------------------------
def _remove_instance(arn: Arn, instance: str) -> None:
    """Terminate it and wait until it is gone (its security group and profile are in use until then)."""
    from orchestrator.targets.aws.compute import terminate

    terminate(_client("ec2", region=arn.region), instance)


def _remove_security_group(arn: Arn, group: str) -> None:
    """Delete it; still in use (an instance's network interface lingers after termination) is retried."""
    from botocore.exceptions import ClientError

    ec2 = _client("ec2", region=arn.region)
    operation = "deleting the security group (ec2 DeleteSecurityGroup)"

    def delete() -> None:
        try:
            ec2.delete_security_group(GroupId=group)
        except ClientError as e:
            if aws.error_code(e) != "DependencyViolation":
                raise
            busy = {"code": "DependencyViolation", "resource": group}
            raise TransientCloudError(f"{operation} for resource {group}: still in use", context=busy) from e

    _gone_ok(operation, delete, group)


def _remove_launch_template(arn: Arn, template: str) -> None:
    ec2 = _client("ec2", region=arn.region)
    delete = functools.partial(ec2.delete_launch_template, LaunchTemplateId=template)
    _gone_ok("deleting the launch template (ec2 DeleteLaunchTemplate)", delete, template)


def _remove_parameter(arn: Arn, name: str) -> None:
    ssm = _client("ssm", region=arn.region)
    _gone_ok("deleting the secret parameter (ssm DeleteParameter)", lambda: ssm.delete_parameter(Name=name), name)


def _remove_role(arn: Arn, role: str) -> None:
    """Delete its inline policies, detach managed ones, take it out of instance profiles, then delete it.

    Each request is retried on its own; a listing that fails for lack of the role means it is already gone.
    """
    iam = _client("iam")
    for policy in _role_listing(iam, "list_role_policies", "PolicyNames", role):
        _gone_ok(
            f"deleting the role's policy {policy} (iam DeleteRolePolicy)",
            functools.partial(iam.delete_role_policy, RoleName=role, PolicyName=policy),
            role,
        )
    for attached in _role_listing(iam, "list_attached_role_policies", "AttachedPolicies", role):
        detach = functools.partial(iam.detach_role_policy, RoleName=role, PolicyArn=attached["PolicyArn"])
        _gone_ok("detaching a managed policy (iam DetachRolePolicy)", detach, role)
    for profile in _role_listing(iam, "list_instance_profiles_for_role", "InstanceProfiles", role):
        name = profile["InstanceProfileName"]
        leave = functools.partial(iam.remove_role_from_instance_profile, InstanceProfileName=name, RoleName=role)
        _gone_ok(f"taking the role out of instance profile {name} (iam RemoveRoleFromInstanceProfile)", leave, role)
    _gone_ok("deleting the IAM role (iam DeleteRole)", functools.partial(iam.delete_role, RoleName=role), role)


def _remove_instance_profile(arn: Arn, profile: str) -> None:
    iam = _client("iam")
    try:
        found = aws.call(
            "reading the instance profile (iam GetInstanceProfile)",
            functools.partial(iam.get_instance_profile, InstanceProfileName=profile),
            resource=profile,
        )
    except CloudError as e:
        if aws.is_not_found(e):
            return
        raise
    for role in found["InstanceProfile"].get("Roles", []):
        leave = functools.partial(iam.remove_role_from_instance_profile, InstanceProfileName=profile, RoleName=role["RoleName"])
        _gone_ok("taking a role out of the instance profile (iam RemoveRoleFromInstanceProfile)", leave, profile)
    delete = functools.partial(iam.delete_instance_profile, InstanceProfileName=profile)
    _gone_ok("deleting the instance profile (iam DeleteInstanceProfile)", delete, profile)


def _role_listing(iam: Any, method: str, key: str, role: str) -> list[Any]:
    """Every item of an IAM listing about ``role`` (nothing when the role is already gone)."""

    def listing() -> list[Any]:
        return [item for page in iam.get_paginator(method).paginate(RoleName=role) for item in page[key]]

    try:
        found: list[Any] = aws.call(f"listing for the role (iam {method})", listing, role=role)
    except CloudError as e:
        if aws.is_not_found(e):
            return []
        raise
    return found


def _remove_bucket(arn: Arn, bucket: str) -> None:
    """Every object version and delete marker, then the bucket (as `down --purge` does)."""
    from orchestrator.targets.aws.purge import delete_bucket

    delete_bucket(_client("s3"), bucket)


def _remove_log_group(arn: Arn, group: str) -> None:
    from orchestrator.targets.aws.purge import delete_log_group

    delete_log_group(_client("logs", region=arn.region), group)


def _client(service: str, region: str | None = None) -> Any:
    """One botocore attempt per request: every gc call runs under the one retry policy."""
    return aws.client(service, region=region, max_attempts=aws.CALL_MAX_ATTEMPTS)


def _gone_ok(operation: str, func: Callable[[], object], resource: str) -> None:
    """Run a deletion under the retry policy; a resource that is already gone is removed all the same."""
    try:
        aws.call(operation, func, resource=resource)
    except CloudError as e:
        if not aws.is_not_found(e):
            raise


_REMOVERS: dict[str, Callable[[Arn, str], None]] = {
    "instance": _remove_instance,
    "security-group": _remove_security_group,
    "launch-template": _remove_launch_template,
    "parameter": _remove_parameter,
    "role": _remove_role,
    "instance-profile": _remove_instance_profile,
    "bucket": _remove_bucket,
    "log-group": _remove_log_group,
}
