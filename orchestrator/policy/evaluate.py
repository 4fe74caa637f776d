"""Run the pack's policies over an offline plan: the same functions the engine calls, no engine.

An offline plan (``orchestrator.lifecycle.offline_plan``) lists each registration as
``{"type", "name", "inputs", "provider"?}``; each becomes a :class:`Resource` with its explicit
provider's inputs attached, as the engine attaches them. Resource checks run on every resource, stack
checks once over all of them, each policy at the level the config gives it for the job's team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import tracing
from orchestrator.policy.config import resolve
from orchestrator.policy.model import Finding, PolicyDef, Resource, Violation
from orchestrator.vocabulary import MANIFEST_KIND, Tag

PROJECT = "trainctl"
TEAM_TAG = Tag.TEAM


def check_plan(
    offline_plan: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    team: str | None = None,
    policies: Sequence[PolicyDef] | None = None,
) -> list[Violation]:
    """Every violation the pack finds in ``offline_plan`` under ``config`` (team: the plan's job's, by default)."""
    if policies is None:
        from orchestrator.policy.pack import load_policies

        policies = load_policies()
    resources = plan_resources(offline_plan)
    return evaluate(resources, policies, config, team or job_team(resources))


def evaluate(
    resources: Sequence[Resource], policies: Sequence[PolicyDef], config: Mapping[str, Any], team: str | None
) -> list[Violation]:
    """Run each enabled policy over ``resources``; violations in policy order, then resource order."""
    found: list[Violation] = []
    with tracing.span("policy evaluation", **{"trainctl.policy.mode": "offline"}) as span:
        for policy in policies:
            level, props = resolve(config, policy.name, team)
            if level == "disabled":
                continue
            if policy.check is not None:
                for resource in resources:
                    found += [_violation(policy, level, f, resource) for f in policy.check(resource, props)]
            if policy.check_stack is not None:
                found += [_violation(policy, level, f, f.resource) for f in policy.check_stack(resources, props)]
        if span is not None:
            span.set_attribute("trainctl.policy.violations", len(found))
    return found


def plan_resources(offline_plan: Mapping[str, Any]) -> list[Resource]:
    """The plan's registrations as Resources (URNs as the engine would name them)."""
    stack = str(offline_plan.get("stack") or "offline")
    project = str(offline_plan.get("project") or PROJECT)
    entries: list[Mapping[str, Any]] = list(offline_plan.get("resources") or [])
    providers = {(e["type"], e["name"]): e.get("inputs") or {} for e in entries if str(e["type"]).startswith("pulumi:providers:")}
    resources = []
    for entry in entries:
        ref = entry.get("provider")
        resources.append(
            Resource(
                type=str(entry["type"]),
                name=str(entry["name"]),
                props=entry.get("inputs") or {},
                urn=f"urn:pulumi:{stack}::{project}::{entry['type']}::{entry['name']}",
                provider=providers.get(_provider_key(ref)) if isinstance(ref, str) else None,
            )
        )
    return resources


def job_team(resources: Sequence[Resource]) -> str | None:
    """The job's team: the manifest's, else the first ``trainctl:team`` tag found."""
    for resource in resources:
        if resource.props.get("kind") == MANIFEST_KIND and isinstance(resource.props.get("team"), str):
            return str(resource.props["team"])
    for resource in resources:
        tags = resource.props.get("tags")
        if isinstance(tags, Mapping) and isinstance(tags.get(TEAM_TAG), str):
            return str(tags[TEAM_TAG])
    return None


def _provider_key(ref: str) -> tuple[str, str]:
    """(type, name) of a provider reference ``<urn>::<id>``."""
    parts = ref.split("::")
    if len(parts) < 5:
        return "", ""
    return parts[2].rsplit("$", 1)[-1], parts[3]


def _violation(policy: PolicyDef, level: str, finding: Finding, resource: Resource | None) -> Violation:
    return Violation(
        policy=policy.name,
        enforcement=level,
        resource=resource.name if resource is not None else "",
        message=finding.message,
        fix=finding.fix,
        resource_type=resource.type if resource is not None else "",
        urn=resource.urn if resource is not None else "",
    )
