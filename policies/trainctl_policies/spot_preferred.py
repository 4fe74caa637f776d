"""spot-preferred: GPU jobs on cloud targets should use spot capacity (advisory by default)."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.errors import PriceNotFoundError
from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import instance_type, is_manifest, items, known, matches

CONFIG = {
    "gpuInstanceTypes": {"type": "array", "items": {"type": "string"}, "description": "glob patterns of GPU instance types"}
}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """A cloud manifest asking for an on-demand GPU instance."""
    itype = instance_type(resource) if is_manifest(resource) else None
    if itype is None or resource.props.get("spot") is not False:
        return
    if not matches(itype, [str(p) for p in items(config.get("gpuInstanceTypes", ["g*.*", "p*.*"]))]):
        return
    yield Finding(
        f"GPU instance {itype} runs on-demand{_savings(itype, resource.props.get('region'))}",
        "set resources.spot: true (keep on_demand_fallback: true to run anyway when spot has no capacity); "
        "checkpoints make preemptions cheap",
    )


def _savings(itype: str, region: object) -> str:
    if not known(region):
        return ""
    from orchestrator.cost.catalog import current_catalog

    catalog = current_catalog()
    try:
        on_demand = catalog.hourly(str(region), itype, spot=False).usd
        spot = catalog.hourly(str(region), itype, spot=True).usd
    except PriceNotFoundError:
        return ""
    return f"; spot is about {round(100 * (1 - spot / on_demand))}% cheaper there ({spot:.2f} vs {on_demand:.2f} USD/hour)"


POLICY = PolicyDef(
    name="spot-preferred",
    description="GPU jobs should run on spot capacity.",
    enforcement="advisory",
    config=CONFIG,
    check=check,
    remediation="Set resources.spot: true; trainctl relaunches preempted runs from their newest checkpoint.",
)
