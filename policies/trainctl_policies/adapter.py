"""The engine adapter: each PolicyDef as a pulumi_policy policy calling the same plain functions.

Importing this module is safe (only ``PolicyPack(...)`` starts serving, and that is in ``pack.py``).
Props arrive through pulumi_policy's unknown-checking proxies; they are turned into plain data with
unknown values as ``COMPUTED``, the form offline plans use too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy

from orchestrator.policy.model import COMPUTED, LEVELS, PolicyDef, Props, Resource, resolve_entry
from trainctl_policies._common import OWNER_TAG, TEAM_TAG, tags_of

_UNKNOWNS = frozenset(getattr(_proxy, name) for name in dir(_proxy) if name.startswith("UNKNOWN_") and name.endswith("_VALUE"))
_LEVEL = {"type": "string", "enum": list(LEVELS)}


def to_pulumi(policy: PolicyDef) -> ResourceValidationPolicy | StackValidationPolicy:
    """``policy`` as a pulumi_policy policy (resource-level or stack-level, as it is defined)."""
    common: dict[str, Any] = {
        "enforcement_level": EnforcementLevel(policy.enforcement),
        "config_schema": PolicyConfigSchema(properties=config_schema(policy)),
        "remediation_steps": policy.remediation or None,
    }
    if policy.check is not None:
        return ResourceValidationPolicy(policy.name, policy.description, validate=resource_validator(policy), **common)
    return StackValidationPolicy(policy.name, policy.description, validate=stack_validator(policy), **common)


def config_schema(policy: PolicyDef) -> dict[str, dict[str, Any]]:
    """The policy's config properties plus ``teams`` (team -> level, or properties and a level)."""
    members = {"type": "array", "items": {"type": "string"}, "description": "owners the override applies to"}
    properties = {"enforcementLevel": _LEVEL, "members": members, **policy.config}
    override = {"type": "object", "properties": properties, "additionalProperties": False}
    teams = {"type": "object", "additionalProperties": {"oneOf": [_LEVEL, override]}, "description": "per-team overrides"}
    return {**{k: dict(v) for k, v in policy.config.items()}, "teams": teams}


def resource_validator(policy: PolicyDef) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """The engine's per-resource callback for ``policy``."""
    assert policy.check is not None
    check = policy.check

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = Resource(
            type=args.resource_type,
            name=args.name,
            props=plain(args.props),
            urn=args.urn,
            provider=plain(args.provider.props) if args.provider is not None else None,
        )
        config = team_config(args.get_config(), resource, args.stack_tags)
        if config is None:
            return
        for finding in check(resource, config):
            report(finding.report_text(), None)

    return validate


def stack_validator(policy: PolicyDef) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """The engine's whole-stack callback for ``policy``."""
    assert policy.check_stack is not None
    check = policy.check_stack

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            Resource(
                type=r.resource_type,
                name=r.name,
                props=plain(r.props),
                urn=r.urn,
                provider=plain(r.provider.props) if r.provider is not None else None,
                deps={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
            )
            for r in args.resources
        ]
        team = args.stack_tags.get(TEAM_TAG)
        config = _resolved(args.get_config(), team, args.stack_tags.get(OWNER_TAG))
        if config is None:
            return
        for finding in check(resources, config):
            report(finding.report_text(), finding.resource.urn if finding.resource is not None else None)

    return validate


def team_config(config: Props, resource: Resource, stack_tags: Mapping[str, str]) -> dict[str, Any] | None:
    """The policy's properties for the resource's team (its tag, else the stack's); None if disabled for it."""
    tags = tags_of(resource) or {}
    team = tags.get(TEAM_TAG) or stack_tags.get(TEAM_TAG)
    return _resolved(config, team, tags.get(OWNER_TAG) or stack_tags.get(OWNER_TAG))


def initial_config(defaults: Path) -> dict[str, Any]:
    """``defaults.json`` in the form ``PolicyPack(initial_config=...)`` takes (levels as EnforcementLevel)."""
    document: dict[str, Any] = json.loads(defaults.read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for name, entry in document.items():
        if name in ("all", "teams"):
            continue
        if isinstance(entry, str):
            out[name] = EnforcementLevel(entry)
            continue
        value = dict(entry)
        if "enforcementLevel" in value:
            value["enforcementLevel"] = EnforcementLevel(value["enforcementLevel"])
        out[name] = value
    return out


def plain(value: Any) -> Any:
    """Props from pulumi_policy's proxies as plain dicts and lists, unknown values as ``COMPUTED``."""
    if type(value).__name__ in ("_DictProxy", "_ListProxy"):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str) and value in _UNKNOWNS:
        return COMPUTED
    return value


def _resolved(config: Props, team: str | None, owner: str | None) -> dict[str, Any] | None:
    level, props = resolve_entry(dict(config), team, owner)
    return None if level == "disabled" else props
