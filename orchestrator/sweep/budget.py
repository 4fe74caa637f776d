"""What a sweep may cost at most, and the policy's verdict on it, before any of its jobs starts.

Each point's worst case is what `plan` calls its maximum (hourly price x ``limits.max_runtime``, plus
storage; a spot job that may fall back to on-demand priced on-demand), lowered to ``limits.max_cost_usd``
when that is smaller (the agent stops the job there). The sweep's worst case is their sum, judged
against ``maxSweepUsd`` of the ``max-job-cost`` policy for the spec's team: above it, a mandatory
policy blocks the whole sweep (exit 3) and an advisory one warns. A point with no bound at a non-zero
price makes the sum unbounded, which no cap admits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.policy.model import Violation
from orchestrator.settings import Settings
from orchestrator.sweep.grid import Grid, Point

POLICY = "max-job-cost"
CAP_KEY = "maxSweepUsd"


@dataclass(frozen=True)
class PointCost:
    """One point's hourly price and most it may cost (None: unbounded)."""

    point: Point
    hourly_usd: float
    max_usd: float | None


@dataclass(frozen=True)
class SweepBudget:
    """Every point's worst case, their sum (None: unbounded) and the policy cap it was judged against."""

    points: tuple[PointCost, ...]
    cap_usd: float | None
    enforcement: str

    @property
    def max_usd(self) -> float | None:
        if any(p.max_usd is None and p.hourly_usd > 0 for p in self.points):
            return None
        return sum(p.max_usd or 0.0 for p in self.points)

    def violations(self, sweep_id: str) -> list[Violation]:
        """The cap's verdict: one violation when the worst case is above it (or unbounded)."""
        total = self.max_usd
        if self.cap_usd is None or self.enforcement == "disabled" or (total is not None and total <= self.cap_usd):
            return []
        cap = f"{self.cap_usd:.2f}"
        said = "is unbounded (a point sets no limits.max_runtime)" if total is None else f"is {total:.2f} USD"
        return [
            Violation(
                policy=POLICY,
                enforcement=self.enforcement,
                resource=sweep_id,
                message=f"the sweep's worst-case cost of {len(self.points)} jobs {said}, above the cap of {cap} USD per sweep",
                fix="sweep fewer points, shorten limits.max_runtime or set limits.max_cost_usd per job",
                resource_type="trainctl:sweep",
            )
        ]

    def describe(self) -> str:
        """The worst case and the cap, for people."""
        total = self.max_usd
        said = "unbounded" if total is None else f"{total:.2f} USD"
        cap = "no cap" if self.cap_usd is None else f"cap {self.cap_usd:.2f} USD ({self.enforcement})"
        return f"worst-case cost {said}; {cap}"

    def to_dict(self) -> dict[str, Any]:
        total = self.max_usd
        return {
            "max_usd": None if total is None else round(total, 6),
            "cap_usd": self.cap_usd,
            "enforcement": self.enforcement,
        }


def sweep_budget(grid: Grid, settings: Settings, *, policy_config: Path | None) -> SweepBudget:
    """Price every point of ``grid`` at its worst case and find the cap for the spec's team."""
    costs = tuple(point_cost(point, settings) for point in grid.points)
    enforcement, cap = sweep_cap(grid, policy_config)
    return SweepBudget(costs, cap, enforcement)


def point_cost(point: Point, settings: Settings) -> PointCost:
    """The most one point's job may cost, as `plan` estimates it (PriceNotFoundError when unpriced)."""
    from orchestrator.compile import spec_region
    from orchestrator.cost.pricing import price_job
    from orchestrator.targets import get_target

    region = spec_region(point.loaded.spec, settings)
    spec = get_target(point.loaded.spec.target).preflight(point.loaded, region=region, offline=True).loaded.spec
    pricing = price_job(spec, region, settings)
    estimate = pricing.estimate_if_fallback() or pricing.estimate()
    budget = spec.limits.max_cost_usd
    worst = estimate.max_usd
    if budget is not None:
        worst = budget if worst is None else min(worst, budget)
    return PointCost(point, estimate.hourly_usd, worst)


def sweep_cap(grid: Grid, policy_config: Path | None) -> tuple[str, float | None]:
    """(enforcement level, ``maxSweepUsd``) of the max-job-cost policy for the spec's team and owner."""
    from orchestrator.policy.config import load_config, resolve, rules_for_job

    spec = grid.base.spec
    rules = rules_for_job(load_config(policy_config), spec.team, owner=spec.owner, log=False)
    level, props = resolve(rules.config, POLICY, spec.team)
    cap = props.get(CAP_KEY)
    return level, float(cap) if isinstance(cap, int | float) and not isinstance(cap, bool) else None


def check_budget(grid: Grid, settings: Settings, *, policy_config: Path | None, warn: Callable[[str], None]) -> SweepBudget:
    """The sweep's budget; PolicyBlockedError (exit 3) when a mandatory cap refuses it, a warning when an advisory one does."""
    from orchestrator.policy.verdict import raise_if_blocked

    budget = sweep_budget(grid, settings, policy_config=policy_config)
    violations = budget.violations(grid.sweep_id)
    raise_if_blocked(violations, sweep_id=grid.sweep_id, team=grid.base.spec.team)
    for violation in violations:
        warn(f"policy warning: {violation.line()}")
    return budget
