"""What trainctl has on AWS: every live resource tagged ``trainctl:managed-by=trainctl``, by job.

Found through the Resource Groups Tagging API (EC2, S3, CloudWatch Logs, SSM), plus direct listings
where that API is blind: IAM roles and instance profiles (never returned by it), and launch templates
(listed by tag with EC2 itself; emulators omit them). Terminated instances stay listed by the tagging
API for a while, so instance states are read with EC2. Every call runs under the one retry policy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import InternalError
from orchestrator.targets.aws import names
from orchestrator.vocabulary import MANAGED_BY_VALUE, Tag

MANAGED_TAG, MANAGED_VALUE, JOB_TAG = Tag.MANAGED_BY.value, MANAGED_BY_VALUE, Tag.JOB_ID.value
TAGGED_SERVICES = ["ec2", "s3", "logs", "ssm"]  # service-level type filters: the same names on AWS and emulators
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]
FILTER_VALUES_MAX = 200  # EC2 takes at most 200 values per filter
# The kinds gc knows, in removal order: the instances first (their security group, placement group and
# profile are in use until they are gone). A multi-node job has several instances and a placement group.
ORDER = (
    *("instance", "placement-group", "launch-template", "security-group"),
    *("parameter", "instance-profile", "role", "log-group", "bucket"),
)


@dataclass(frozen=True)
class Tagged:
    """One live AWS resource carrying trainctl's tags."""

    kind: str  # one of ORDER
    arn: str
    ident: str  # the id or name AWS APIs take: i-..., sg-..., a bucket or role name
    job_id: str
    backend: str | None = None  # its tag ``trainctl:backend``: the backend holding its job's stack


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


def classify(arn: Arn, job_id: str, backend: str | None = None) -> Tagged | None:
    """What kind of trainctl resource ``arn`` is; None for kinds gc leaves alone (volumes and network
    interfaces go with their instance, spot requests are one-time)."""
    kind = kind_of(arn)
    return Tagged(kind, arn.text, ident_of(kind, arn), job_id, backend) if kind else None


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
    ("ec2", "placement-group"): "placement-group",
    ("logs", "log-group"): "log-group",
    ("ssm", "parameter"): "parameter",
    ("iam", "role"): "role",
    ("iam", "instance-profile"): "instance-profile",
}


def _tagging_api(region: str) -> list[Tagged]:
    tagging = client("resourcegroupstaggingapi", region=region)
    filters = [{"Key": MANAGED_TAG, "Values": [MANAGED_VALUE]}]

    def listing() -> list[dict[str, Any]]:
        pages = tagging.get_paginator("get_resources").paginate(TagFilters=filters, ResourceTypeFilters=TAGGED_SERVICES)
        return [mapping for page in pages for mapping in page.get("ResourceTagMappingList", [])]

    mappings = aws.call("listing tagged resources (tagging GetResources)", listing, region=region)
    tagged = []
    for mapping in mappings:
        values = _tags(mapping.get("Tags"))
        job_id = values.get(JOB_TAG)
        resource = classify(parse_arn(mapping["ResourceARN"]), job_id, values.get(Tag.BACKEND)) if job_id else None
        if resource is not None:
            tagged.append(resource)
    live = _live_instances(region, [t.ident for t in tagged if t.kind == "instance"])
    return [t for t in tagged if t.kind != "instance" or t.ident in live]


def _live_instances(region: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` are not terminated (the tagging API still lists terminated instances)."""
    ec2 = client("ec2", region=region)

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
    ec2 = client("ec2", region=region)
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
        values = _tags(template.get("Tags"))
        job_id = values.get(JOB_TAG)
        if job_id:
            ident = template["LaunchTemplateId"]
            arn = f"arn:{partition}:ec2:{region}:{account}:launch-template/{ident}"
            found.append(Tagged("launch-template", arn, ident, job_id, values.get(Tag.BACKEND)))
    return found


def _identity(region: str) -> tuple[str, str]:
    """The partition and account of the credentials in use (DescribeLaunchTemplates names neither)."""
    sts = client("sts", region=region)
    caller = aws.call("reading the account id (sts GetCallerIdentity)", sts.get_caller_identity)
    return str(caller["Arn"]).split(":")[1], str(caller["Account"])


def _iam(region: str) -> list[Tagged]:
    """Roles and instance profiles named like a job's (``trainctl-*``) and tagged managed-by=trainctl."""
    iam = client("iam", region=region)
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
    return [Tagged(kind, arn, ident, values[JOB_TAG], values.get(Tag.BACKEND))]


def _tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in tags or []}


def client(service: str, region: str | None = None) -> Any:
    """One botocore attempt per request: every gc call runs under the one retry policy."""
    return aws.client(service, region=region, max_attempts=aws.CALL_MAX_ATTEMPTS)
