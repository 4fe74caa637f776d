"""max-hourly-cost: what the job's compute costs per hour stays under the team's cap."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.errors import PriceNotFoundError
from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import for_team, is_manifest, number
from trainctl_policies._cost import job_cost, usd

CONFIG = {"maxUsd": {"type": "number", "minimum": 0, "description": "the most a job may cost per hour, in USD"}}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """The manifest's hourly price (catalog, or the local setting) against ``maxUsd``."""
    cap = number(config.get("maxUsd"))
    if not is_manifest(resource) or cap is None:
        return
    try:
        cost = job_cost(resource)
    except PriceNotFoundError as e:
        yield Finding(f"cannot check the hourly cap: {e.message}", e.hint or "choose a priced instance type and region")
        return
    if cost is None or cost.hourly_usd <= cap:
        return
    yield Finding(
        f"{usd(cost.hourly_usd)} USD/hour ({cost.basis}) is above the cap of {usd(cap)} USD/hour{for_team(resource)}",
        "choose a cheaper resources.instance_type (or spot: true with on_demand_fallback: false), "
        "or ask for a higher max-hourly-cost cap for your team",
    )


POLICY = PolicyDef(
    name="max-hourly-cost",
    description="A job's hourly price stays under its team's cap.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Choose a cheaper instance type, or have the platform team raise maxUsd for your team.",
)
