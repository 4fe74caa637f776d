"""Billing arithmetic: what a run costs, and what a job may cost at most. Pure functions, no I/O.

AWS bills Linux instances per second with a 60-second minimum once started; storage is priced per
GB-month, prorated here on AWS's 730-hour month. Money is kept unrounded in arithmetic and rounded to six
decimals only where it is rendered (``Estimate.to_dict``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.cost.catalog import Catalog, Price

MINIMUM_BILLED_SECONDS = 60
SECONDS_PER_HOUR = 3600
HOURS_PER_MONTH = 730
LOCAL_PRICE_SOURCE = "setting TRAINCTL_LOCAL_HOURLY_USD"
_DECIMALS = 6


def billed_seconds(runtime_s: float) -> int:
    """Seconds AWS bills for ``runtime_s`` of running: 0 if never started, else whole seconds rounded up, at least 60."""
    _check_non_negative("runtime_s", runtime_s)
    if runtime_s == 0:
        return 0
    return max(MINIMUM_BILLED_SECONDS, math.ceil(runtime_s))


def compute_cost(hourly_usd: float, runtime_s: float) -> float:
    """USD for one instance at ``hourly_usd`` that ran ``runtime_s`` seconds (per-second billing, 60 s minimum)."""
    _check_non_negative("hourly_usd", hourly_usd)
    return hourly_usd * billed_seconds(runtime_s) / SECONDS_PER_HOUR


def storage_cost(gb: float, gb_month_usd: float, seconds: float) -> float:
    """USD for ``gb`` provisioned for ``seconds`` at ``gb_month_usd``, prorated on a 730-hour month."""
    for name, value in (("gb", gb), ("gb_month_usd", gb_month_usd), ("seconds", seconds)):
        _check_non_negative(name, value)
    return gb * gb_month_usd * seconds / (HOURS_PER_MONTH * SECONDS_PER_HOUR)


@dataclass(frozen=True)
class EstimateLine:
    """One priced item: ``quantity`` of ``unit`` at ``unit_usd``; ``max_usd`` is None when the runtime is unbounded."""

    item: str
    quantity: float
    unit: str
    unit_usd: float
    hourly_usd: float
    max_usd: float | None
    source: str
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unit_usd": _money(self.unit_usd),
            "hourly_usd": _money(self.hourly_usd),
            "max_usd": _money(self.max_usd),
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True)
class Estimate:
    """What a job costs per hour of running and at most (None: no limits.max_runtime, so unbounded).

    ``hourly_usd`` is the instances' hourly price (every node of a multi-node job); ``max_usd`` sums every
    line's maximum. ``prices_as_of`` is the oldest date among the prices used (None when none comes from the catalog).
    """

    hourly_usd: float
    max_usd: float | None
    currency: str
    prices_as_of: dt.date | None
    lines: list[EstimateLine] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, money rounded to six decimals."""
        return {
            "hourly_usd": _money(self.hourly_usd),
            "max_usd": _money(self.max_usd),
            "currency": self.currency,
            "prices_as_of": self.prices_as_of.isoformat() if self.prices_as_of else None,
            "lines": [line.to_dict() for line in self.lines],
        }


def estimate(
    catalog: Catalog,
    *,
    region: str,
    instance_type: str,
    spot: bool,
    disk_gb: float,
    max_runtime_s: float | None,
    nodes: int = 1,
) -> Estimate:
    """The cost of one AWS job: its ``nodes`` instances at their catalog price, plus each one's gp3 disk
    prorated over the runtime.

    Raises PriceNotFoundError when the catalog lacks the instance price (or, with ``disk_gb`` > 0, the gp3 price).
    """
    price = catalog.hourly(region, instance_type, spot=spot)
    return priced_estimate(
        catalog,
        price,
        region=region,
        instance_type=instance_type,
        spot=spot,
        disk_gb=disk_gb,
        max_runtime_s=max_runtime_s,
        nodes=nodes,
    )


def priced_estimate(
    catalog: Catalog,
    price: Price,
    *,
    region: str,
    instance_type: str,
    spot: bool,
    disk_gb: float,
    max_runtime_s: float | None,
    nodes: int = 1,
) -> Estimate:
    """``estimate`` with the instance's ``price`` already looked up (the job's decided price); the gp3
    disk is priced from ``catalog`` (PriceNotFoundError when it has no gp3 price there).

    A multi-node job is ``nodes`` alike instances, each with its own disk: every line counts all of them."""
    if nodes < 1:
        raise ValueError(f"nodes must be at least 1, got {nodes!r}")
    compute_max = None if max_runtime_s is None else nodes * compute_cost(price.usd, max_runtime_s)
    purchase = "spot" if spot else "on-demand"
    item = f"{instance_type} ({purchase}, {region})" if nodes == 1 else f"{nodes} x {instance_type} ({purchase}, {region})"
    lines = [_line(item, nodes, "instance-hour", price, nodes * price.usd, compute_max)]
    used = [price]
    if disk_gb > 0:
        disk = catalog.storage_gb_month(region, "gp3")
        total_gb = nodes * disk_gb
        disk_max = None if max_runtime_s is None else storage_cost(total_gb, disk.usd, max_runtime_s)
        disk_item = f"EBS gp3 disk ({region})" if nodes == 1 else f"EBS gp3 disk ({region}, {nodes} nodes)"
        lines.append(_line(disk_item, total_gb, "GB-month", disk, total_gb * disk.usd / HOURS_PER_MONTH, disk_max))
        used.append(disk)
    return Estimate(
        hourly_usd=nodes * price.usd,
        max_usd=_total(lines),
        currency=catalog.currency,
        prices_as_of=min(p.as_of for p in used),
        lines=lines,
    )


def estimate_local(hourly_usd: float, max_runtime_s: float | None) -> Estimate:
    """The cost of a local job at the configured hourly price, prorated exactly (no cloud billing minimum)."""
    _check_non_negative("hourly_usd", hourly_usd)
    bounded = max_runtime_s is not None
    max_usd = hourly_usd * max_runtime_s / SECONDS_PER_HOUR if max_runtime_s is not None else None
    note = None if bounded else "no limits.max_runtime: cost is unbounded"
    line = EstimateLine("local machine", 1, "hour", hourly_usd, hourly_usd, max_usd, LOCAL_PRICE_SOURCE, note)
    return Estimate(hourly_usd=hourly_usd, max_usd=max_usd, currency="USD", prices_as_of=None, lines=[line])


def _line(item: str, quantity: float, unit: str, price: Price, hourly_usd: float, max_usd: float | None) -> EstimateLine:
    source = f"{price.source} (as of {price.as_of.isoformat()})"
    note = None if max_usd is not None else "no limits.max_runtime: cost is unbounded"
    return EstimateLine(item, quantity, unit, price.usd, hourly_usd, max_usd, source, note)


def _total(lines: list[EstimateLine]) -> float | None:
    maxima = [line.max_usd for line in lines]
    return None if any(m is None for m in maxima) else sum(m for m in maxima if m is not None)


def _money(usd: float | None) -> float | None:
    return None if usd is None else round(usd, _DECIMALS)


def _check_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
