"""max-nodes: a multi-node job runs on no more machines than its team may use at once."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import for_team, is_manifest, number
from trainctl_policies._cost import nodes

CONFIG = {"maxNodes": {"type": "integer", "minimum": 1, "description": "the most nodes (machines) one job may run on"}}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """The manifest's ``nodes`` (resources.nodes) against ``maxNodes``."""
    cap = number(config.get("maxNodes"))
    if not is_manifest(resource) or cap is None:
        return
    count = nodes(resource)
    if count <= cap:
        return
    yield Finding(
        f"the job asks for {count} nodes, above the cap of {int(cap)} nodes per job{for_team(resource)}",
        f"lower resources.nodes to at most {int(cap)}, or ask for a higher max-nodes cap for your team",
    )


POLICY = PolicyDef(
    name="max-nodes",
    description="A multi-node job runs on at most its team's number of nodes.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Lower resources.nodes, or have the platform team raise maxNodes for your team.",
)
