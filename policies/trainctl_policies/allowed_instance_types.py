"""allowed-instance-types: the job's instance type matches the team's glob patterns."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import for_team, instance_type, items, matches

CONFIG = {
    "allowed": {"type": "array", "items": {"type": "string"}, "description": "glob patterns of allowed instance types"},
}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """The manifest's instance type, and any EC2 instance or launch template, against ``allowed``."""
    itype = instance_type(resource)
    if itype is None:
        return
    allowed = [str(p) for p in items(config.get("allowed", ["*"]))]
    if matches(itype, allowed):
        return
    yield Finding(
        f"instance type {itype} is not allowed{for_team(resource)} (allowed: {', '.join(allowed) or 'none'})",
        "choose an allowed resources.instance_type, or ask for it to be allowed for your team "
        "(allowed-instance-types in the policy config)",
    )


POLICY = PolicyDef(
    name="allowed-instance-types",
    description="Jobs use instance types allowed for their team.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Pick a type matching the allowed patterns, or have the platform team add a pattern for your team.",
)
