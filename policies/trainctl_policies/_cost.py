"""What a job may cost, from its manifest: the price catalog for cloud jobs, the setting for local ones.

The same arithmetic as `trainctl plan` (orchestrator.cost.billing), judged at the worst case: a spot
job that may fall back to on-demand is priced on-demand. A multi-node cloud job is judged as its whole
group (``nodes`` instances and their disks); the nodes of a local job share the one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.policy.model import Resource
from trainctl_policies._common import instance_type, is_cloud_job, known, number


@dataclass(frozen=True)
class JobCost:
    """Hourly price (and on what basis), and the most a run may cost (None: unbounded)."""

    hourly_usd: float
    basis: str
    max_usd: float | None


def job_cost(manifest: Resource) -> JobCost | None:
    """The job's cost; None when a fact it needs is not known yet. Raises PriceNotFoundError."""
    from orchestrator.cost.billing import estimate, estimate_local

    props = manifest.props
    runtime = number(props.get("max_runtime_s"))
    if not is_cloud_job(manifest):
        hourly = number(props.get("hourly_usd")) or 0.0
        local = estimate_local(hourly, runtime)
        return JobCost(local.hourly_usd, "the local machine's price (TRAINCTL_LOCAL_HOURLY_USD)", local.max_usd)
    itype, region = instance_type(manifest), props.get("region")
    if itype is None or not known(region):
        return None
    from orchestrator.cost.catalog import current_catalog

    spot = props.get("spot") is True
    fallback = props.get("on_demand_fallback") is not False
    priced_spot = spot and not fallback
    cost = estimate(
        current_catalog(),
        region=str(region),
        instance_type=itype,
        spot=priced_spot,
        disk_gb=number(props.get("disk_gb")) or 0.0,
        max_runtime_s=runtime,
        nodes=nodes(manifest),
    )
    count = nodes(manifest)
    basis = f"{itype} {'spot' if priced_spot else 'on-demand'} in {region}"
    if count > 1:
        basis = f"{count} nodes of {basis}"
    if spot and fallback:
        basis += ", as spot may fall back to on-demand"
    return JobCost(cost.hourly_usd, basis, cost.max_usd)


def nodes(manifest: Resource) -> int:
    """How many alike machines the job runs on (1 when the manifest does not say: written before nodes)."""
    value = number(manifest.props.get("nodes"))
    return int(value) if value is not None and value >= 1 else 1


def usd(value: float) -> str:
    """Money for messages: two decimals, four below one dollar."""
    return f"{value:.2f}" if value >= 1 or value == 0 else f"{value:.4f}"
