"""Helpers the policies share: reading props, tags, the job manifest, glob matching.

Props use Pulumi's wire names (camelCase). A value that is not known yet (during a preview, or in an
offline plan) is ``COMPUTED``: a policy that cannot tell stays silent rather than guess.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from orchestrator.policy.model import COMPUTED, Resource

DYNAMIC = "pulumi-python:dynamic:Resource"
# The pack ships on its own, so it keeps its own copy of trainctl's words (orchestrator/vocabulary.py);
# tests/policy/test_vocabulary_copy.py pins the two equal.
MANIFEST_KIND = "trainctl:job"
JOB_ID_TAG = "trainctl:job-id"
JOB_NAME_TAG = "trainctl:job-name"
TEAM_TAG = "trainctl:team"
OWNER_TAG = "trainctl:owner"
COST_CENTER_TAG = "trainctl:cost-center"
MANAGED_BY_TAG = "trainctl:managed-by"
# The tags every job carries (cost-center only when the spec sets it).
JOB_TAGS = (JOB_ID_TAG, JOB_NAME_TAG, TEAM_TAG, OWNER_TAG, MANAGED_BY_TAG)
EC2_INSTANCES = frozenset(
    {
        "aws:ec2/instance:Instance",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/spotInstanceRequest:SpotInstanceRequest",
    }
)


def known(value: Any) -> bool:
    """Whether ``value`` is a real value (not absent, not computed later)."""
    return value is not None and value != COMPUTED


def is_manifest(resource: Resource) -> bool:
    """The job manifest (orchestrator/targets/manifest.py): job-level facts for the policies."""
    return resource.type == DYNAMIC and resource.props.get("kind") == MANIFEST_KIND


def is_cloud_job(manifest: Resource) -> bool:
    """A manifest of a job on a cloud target (anything but ``local``)."""
    target = manifest.props.get("target")
    return known(target) and target != "local"


def matches(value: str, patterns: Iterable[str]) -> bool:
    """Whether ``value`` matches one of the glob ``patterns`` (case-sensitive fnmatch)."""
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def flag(value: Any) -> bool | None:
    """A boolean input (bool, or "true"/"false" as some AWS inputs are strings); None when unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None if value == COMPUTED else False


def number(value: Any) -> float | None:
    """A number input, or None when absent or unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def items(value: Any) -> list[Any]:
    """A list input as a list ([] when absent or unknown)."""
    return list(value) if isinstance(value, list | tuple) else []


def obj(value: Any) -> Mapping[str, Any]:
    """An object input as a mapping ({} when absent or unknown)."""
    return value if isinstance(value, Mapping) else {}


def taggable(resource: Resource) -> bool:
    """Whether the resource takes tags: trainctl's dynamic resources, AWS types with a ``tags`` input."""
    if resource.type == DYNAMIC:
        return True
    if resource.type.startswith("aws:"):
        from trainctl_policies._aws import taggable_types

        return resource.type in taggable_types()
    return "tags" in resource.props


def tags_of(resource: Resource) -> dict[str, str] | None:
    """The tags the resource will carry: its provider's default tags, then its own; None when unknown."""
    merged: dict[str, str] = {}
    default = _default_tags(resource.provider or {})
    if default is None:
        return None
    merged.update(default)
    for key in ("tagsAll", "tags"):
        own = resource.props.get(key)
        if own == COMPUTED:
            return None
        merged.update({str(k): v for k, v in obj(own).items()})
    return merged


def team_of(resource: Resource) -> str | None:
    """The team a resource belongs to: its ``trainctl:team`` tag, or the manifest's ``team``."""
    tags = tags_of(resource) or {}
    team = tags.get(TEAM_TAG) or resource.props.get("team")
    return str(team) if known(team) else None


def for_team(resource: Resource) -> str:
    """`` for team X`` when the resource's team is known, for messages."""
    team = team_of(resource)
    return f" for team {team}" if team else ""


def instance_type(resource: Resource) -> str | None:
    """The EC2 instance type a resource asks for (manifest of a cloud job, or an EC2 instance/template)."""
    if is_manifest(resource):
        value = resource.props.get("instance_type") if is_cloud_job(resource) else None
    elif resource.type in EC2_INSTANCES:
        value = resource.props.get("instanceType")
    else:
        return None
    return str(value) if known(value) else None


def _default_tags(provider: Mapping[str, Any]) -> dict[str, str] | None:
    """``defaultTags.tags`` of an AWS provider's inputs (an object, or JSON text as providers receive it)."""
    value = provider.get("defaultTags")
    if value == COMPUTED:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    tags = obj(value).get("tags")
    if tags == COMPUTED:
        return None
    return {str(k): v for k, v in obj(tags).items()}
