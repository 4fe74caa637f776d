"""required-tags: every taggable resource carries the job's tags (docs/policies.md), with allowed values."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import (
    COST_CENTER_TAG,
    JOB_NAME_TAG,
    JOB_TAGS,
    OWNER_TAG,
    TEAM_TAG,
    items,
    known,
    matches,
    obj,
    taggable,
    tags_of,
)

# tag -> the spec field it comes from, for the fix
SPEC_FIELDS = {JOB_NAME_TAG: "name", TEAM_TAG: "team", OWNER_TAG: "owner", COST_CENTER_TAG: "cost_center"}
CONFIG = {
    "tags": {"type": "array", "items": {"type": "string"}, "description": "tag keys every taggable resource must carry"},
    "values": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "description": "tag key -> glob patterns its value must match",
    },
}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """Missing job tags, and tag values outside their allowed patterns."""
    if not taggable(resource):
        return
    tags = tags_of(resource)
    if tags is None:
        return
    required = [str(t) for t in items(config.get("tags"))] if "tags" in config else list(JOB_TAGS)
    missing = [tag for tag in required if not tags.get(tag)]
    if missing:
        yield Finding(f"missing tag{'s' if len(missing) > 1 else ''} {', '.join(missing)}", _fix_missing(missing))
    for tag, patterns in obj(config.get("values")).items():
        value = tags.get(tag)
        if not known(value) or not value or matches(str(value), patterns):
            continue
        allowed = ", ".join(patterns)
        yield Finding(f"tag {tag}={value!r} is not allowed (allowed: {allowed})", _fix_value(tag, allowed))


def _fix_missing(missing: list[str]) -> str:
    fields = [f"`{SPEC_FIELDS[t]}:`" for t in missing if t in SPEC_FIELDS]
    if len(fields) == len(missing):
        return f"set {', '.join(fields)} in the job spec"
    return "declare every resource with the job's tags (CompiledJob.tags); set the spec's team, owner and cost_center"


def _fix_value(tag: str, allowed: str) -> str:
    field = SPEC_FIELDS.get(tag)
    where = f"the spec's `{field}:`" if field else f"the {tag} tag"
    return f"change {where} to match one of: {allowed}"


POLICY = PolicyDef(
    name="required-tags",
    description="Every taggable resource carries the trainctl job tags.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Tags attribute cost to the job, team and owner; trainctl sets them from the spec (team, owner, cost_center).",
)
