"""max-job-cost: the most a job may cost (hourly x max_runtime, plus storage) and its max_cost_usd stay under the cap."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.errors import PriceNotFoundError
from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from orchestrator.spec.durations import format_duration
from trainctl_policies._common import for_team, is_manifest, number
from trainctl_policies._cost import job_cost, usd

CONFIG = {
    "maxUsd": {"type": "number", "minimum": 0, "description": "the most one job may cost, in USD"},
    # Not judged here (a sweep is many stacks): `trainctl sweep` checks it before launching (orchestrator/sweep/budget.py).
    "maxSweepUsd": {"type": "number", "minimum": 0, "description": "the most the jobs of one `trainctl sweep` may cost together"},
}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """limits.max_cost_usd, and hourly x limits.max_runtime (plus storage), against ``maxUsd``."""
    cap = number(config.get("maxUsd"))
    if not is_manifest(resource) or cap is None:
        return
    team = for_team(resource)
    budget = number(resource.props.get("max_cost_usd"))
    if budget is not None and budget > cap:
        yield Finding(
            f"limits.max_cost_usd {usd(budget)} is above the cap of {usd(cap)} USD per job{team}",
            f"lower limits.max_cost_usd to at most {usd(cap)}",
        )
    try:
        cost = job_cost(resource)
    except PriceNotFoundError as e:
        yield Finding(f"cannot check the job cost cap: {e.message}", e.hint or "choose a priced instance type and region")
        return
    if cost is None:
        return
    if cost.max_usd is None:
        if budget is None and cost.hourly_usd > 0:
            yield Finding(
                f"the job's cost is unbounded at {usd(cost.hourly_usd)} USD/hour: it sets neither limits.max_runtime "
                f"nor limits.max_cost_usd (cap {usd(cap)} USD{team})",
                "set limits.max_runtime (and limits.max_cost_usd) in the job spec",
            )
        return
    if cost.max_usd <= cap:
        return
    runtime = number(resource.props.get("max_runtime_s")) or 0.0
    longest = format_duration(_round_down(runtime * cap / cost.max_usd))
    yield Finding(
        f"the job may cost {usd(cost.max_usd)} USD ({usd(cost.hourly_usd)} USD/hour, {cost.basis}, for "
        f"{format_duration(int(runtime))} plus storage), above the cap of {usd(cap)} USD per job{team}",
        f"shorten limits.max_runtime to about {longest} or less, or choose a cheaper resources.instance_type",
    )


def _round_down(seconds: float) -> int:
    """Whole hours above two hours, whole minutes above two minutes, else seconds (at least 1)."""
    for unit in (3600, 60):
        if seconds >= 2 * unit:
            return int(seconds // unit) * unit
    return max(1, int(seconds))


POLICY = PolicyDef(
    name="max-job-cost",
    description="The most a job may cost stays under its team's cap.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Lower limits.max_runtime or limits.max_cost_usd, or choose a cheaper instance type.",
)
