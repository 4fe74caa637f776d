"""A job's hourly prices, decided once when the job is compiled (orchestrator/compile.py), and what it
costs at most at them.

The prices are stored in the job record (``JobRecord.prices``) and read from there afterwards: by the
job manifest the policies judge, by the agent's budget guard, by cost accrual and reports, and by a
relaunch after a preemption. Nothing else looks a job's hourly price up.

A multi-node AWS job (``resources.nodes: N``) is N alike instances: its hourly prices are N times one
instance's, so everything downstream (the budget guard, accrual, reports, the cost policies) counts every
node without knowing about nodes. The N nodes of a local job share this machine: its price stays the
machine's (``TRAINCTL_LOCAL_HOURLY_USD``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.cost.billing import Estimate, estimate_local, priced_estimate
from orchestrator.jobs.records import JobPrices

if TYPE_CHECKING:
    from orchestrator.cost.catalog import Catalog, Price
    from orchestrator.settings import Settings
    from orchestrator.spec.models import JobSpec


@dataclass(frozen=True)
class _Quote:
    """The catalog prices an AWS job was priced with: as requested, and on-demand if it may fall back."""

    catalog: Catalog
    region: str
    instance_type: str
    spot: bool
    disk_gb: float
    nodes: int
    requested: Price
    fallback: Price | None


@dataclass(frozen=True)
class JobPricing:
    """The prices of a job, and the estimates of what it costs at most at them (for `plan`)."""

    prices: JobPrices
    max_runtime_s: float | None
    quote: _Quote | None = None  # None: the local target, at the configured price

    def estimate(self) -> Estimate:
        """Hourly price and maximum cost (price x max_runtime, plus an AWS job's gp3 disk).

        Raises PriceNotFoundError when the catalog has no gp3 price for the job's region."""
        if self.quote is None:
            return estimate_local(self.prices.hourly_usd, self.max_runtime_s)
        return self._priced(self.quote.requested, spot=self.quote.spot)

    def estimate_if_fallback(self) -> Estimate | None:
        """A spot job with on-demand fallback: what it costs if it falls back (else None)."""
        if self.quote is None or self.quote.fallback is None:
            return None
        return self._priced(self.quote.fallback, spot=False)

    def _priced(self, price: Price, *, spot: bool) -> Estimate:
        assert self.quote is not None
        quote = self.quote
        return priced_estimate(
            quote.catalog,
            price,
            region=quote.region,
            instance_type=quote.instance_type,
            spot=spot,
            disk_gb=quote.disk_gb,
            max_runtime_s=self.max_runtime_s,
            nodes=quote.nodes,
        )


def price_job(spec: JobSpec, region: str | None, settings: Settings) -> JobPricing:
    """The hourly prices of ``spec`` in ``region``: the local machine's configured price
    (``TRAINCTL_LOCAL_HOURLY_USD``), or the catalog in force for the instance type times the job's nodes
    (the spot price for a spot job; with ``on_demand_fallback`` also the on-demand price it pays if it
    falls back: the whole group falls back together).

    Raises PriceNotFoundError when the catalog has no price for the instance type there.
    """
    max_runtime = float(spec.limits.max_runtime) if spec.limits.max_runtime else None
    if spec.target == "local" or region is None:
        return JobPricing(JobPrices(hourly_usd=settings.local_hourly_usd), max_runtime)
    from orchestrator.cost.catalog import catalog_in_force

    resources = spec.resources
    assert resources.instance_type is not None  # the spec rules require it on a cloud target
    catalog = catalog_in_force(settings.home)[0]
    requested = catalog.hourly(region, resources.instance_type, spot=resources.spot)
    fallback = None
    if resources.spot and resources.on_demand_fallback:
        fallback = catalog.hourly(region, resources.instance_type, spot=False)
    nodes = resources.nodes
    quote = _Quote(catalog, region, resources.instance_type, resources.spot, resources.disk_gb, nodes, requested, fallback)
    prices = JobPrices(
        hourly_usd=nodes * requested.usd, on_demand_hourly_usd=nodes * fallback.usd if fallback else None, nodes=nodes
    )
    return JobPricing(prices, max_runtime, quote)
