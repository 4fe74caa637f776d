"""Removing what gc found leaked on AWS: each kind the way its service wants, already gone counts as removed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import CloudError, InternalError, TransientCloudError
from orchestrator.gc.aws_inventory import Arn, client, ident_of, parse_arn
from orchestrator.gc.findings import Finding

KIND_PREFIX = "leaked-aws-"  # a finding's kind: leaked-aws-instance, leaked-aws-bucket...


def remove_aws(finding: Finding) -> None:
    """Delete what ``finding`` names (already gone counts as removed); mark it ``removed``."""
    kind = finding.kind.removeprefix(KIND_PREFIX)
    remover = _REMOVERS.get(kind)
    if remover is None:
        raise InternalError(f"gc cannot remove {finding.kind} {finding.resource}")
    arn = parse_arn(finding.resource)
    remover(arn, ident_of(kind, arn))
    finding.removed = True


def _remove_instance(arn: Arn, instance: str) -> None:
    """Terminate it and wait until it is gone (its security group and profile are in use until then)."""
    from orchestrator.targets.aws.compute import terminate

    terminate(client("ec2", region=arn.region), instance)


def _remove_security_group(arn: Arn, group: str) -> None:
    """Delete it; still in use (an instance's network interface lingers after termination) is retried."""
    from botocore.exceptions import ClientError

    ec2 = client("ec2", region=arn.region)
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
    ec2 = client("ec2", region=arn.region)
    delete = functools.partial(ec2.delete_launch_template, LaunchTemplateId=template)
    _gone_ok("deleting the launch template (ec2 DeleteLaunchTemplate)", delete, template)


def _remove_placement_group(arn: Arn, name: str) -> None:
    """Delete a multi-node job's placement group (after its instances: removal follows ``ORDER``)."""
    ec2 = client("ec2", region=arn.region)
    delete = functools.partial(ec2.delete_placement_group, GroupName=name)
    _gone_ok("deleting the placement group (ec2 DeletePlacementGroup)", delete, name)


def _remove_parameter(arn: Arn, name: str) -> None:
    ssm = client("ssm", region=arn.region)
    _gone_ok("deleting the secret parameter (ssm DeleteParameter)", lambda: ssm.delete_parameter(Name=name), name)


def _remove_role(arn: Arn, role: str) -> None:
    """Delete its inline policies, detach managed ones, take it out of instance profiles, then delete it.

    Each request is retried on its own; a listing that fails for lack of the role means it is already gone.
    """
    iam = client("iam")
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
    iam = client("iam")
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

    delete_bucket(client("s3"), bucket)


def _remove_log_group(arn: Arn, group: str) -> None:
    from orchestrator.targets.aws.purge import delete_log_group

    delete_log_group(client("logs", region=arn.region), group)


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
    "placement-group": _remove_placement_group,
    "parameter": _remove_parameter,
    "role": _remove_role,
    "instance-profile": _remove_instance_profile,
    "bucket": _remove_bucket,
    "log-group": _remove_log_group,
}
