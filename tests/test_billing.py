"""Billing arithmetic: per-second billing with a 60 s minimum, storage proration, and estimates."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.cost.billing import (
    LOCAL_PRICE_SOURCE,
    billed_seconds,
    compute_cost,
    estimate,
    estimate_local,
    storage_cost,
)
from orchestrator.cost.catalog import Catalog
from orchestrator.errors import PriceNotFoundError

runtimes = st.floats(min_value=1e-9, max_value=1e8, allow_nan=False, allow_infinity=False)
prices = st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False)

SMALL_CATALOG = {
    "currency": "USD",
    "as_of": "2026-01-05",
    "sources": {"a": {"title": "Source A", "url": "https://example.test/a"}, "b": {"title": "Source B"}},
    "regions": {
        "xx-test-1": {
            "instances": {
                "t9.large": {
                    "on_demand": 1.0,
                    "source": "a",
                    "as_of": "2026-01-03",
                    "spot": 0.3,
                    "spot_source": "b",
                    "spot_as_of": "2026-01-04",
                },
                "t9.small": {"on_demand": 0.1234567891, "source": "a", "as_of": "2026-01-02"},
            },
            "storage": {"gp3_gb_month": 0.1, "source": "b", "as_of": "2025-06-01"},
        },
        "xx-bare-1": {"instances": {"t9.large": {"on_demand": 2.0, "source": "a", "as_of": "2026-01-03"}}},
    },
}


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_document(SMALL_CATALOG)


@given(runtimes)
def test_any_started_instance_bills_at_least_a_minute(runtime: float) -> None:
    """Any positive runtime, however short, is billed at least 60 seconds."""
    assert billed_seconds(runtime) >= 60


@given(runtimes, runtimes)
def test_billed_seconds_never_decrease_with_runtime(a: float, b: float) -> None:
    """A longer run is never billed fewer seconds than a shorter one."""
    short, long = sorted((a, b))
    assert billed_seconds(short) <= billed_seconds(long)


@given(st.floats(min_value=60, max_value=1e8, allow_nan=False))
def test_past_the_minimum_billing_is_the_runtime_rounded_up(runtime: float) -> None:
    """From 60 s on, the billed seconds are the runtime rounded up to a whole second."""
    assert billed_seconds(runtime) == math.ceil(runtime)


@pytest.mark.parametrize(
    ("runtime", "billed"),
    [(0, 0), (0.001, 60), (30, 60), (59.999, 60), (60, 60), (60.0001, 61), (61.2, 62), (3600, 3600)],
)
def test_billing_examples(runtime: float, billed: int) -> None:
    """Never started bills 0; 30 s bills 60; 61.2 s bills 62."""
    assert billed_seconds(runtime) == billed


@given(prices, prices, runtimes)
def test_compute_cost_is_linear_in_the_hourly_price(a: float, b: float, runtime: float) -> None:
    """Cost(a + b) = cost(a) + cost(b) and cost(3a) = 3 cost(a) for the same runtime."""
    assert compute_cost(a + b, runtime) == pytest.approx(compute_cost(a, runtime) + compute_cost(b, runtime), rel=1e-9, abs=1e-12)
    assert compute_cost(3 * a, runtime) == pytest.approx(3 * compute_cost(a, runtime), rel=1e-9, abs=1e-12)


def test_compute_cost_charges_the_minimum_and_whole_seconds() -> None:
    """30 s at $3.60/h costs one minute ($0.06); 61.2 s costs 62 s."""
    assert compute_cost(3.6, 30) == pytest.approx(0.06)
    assert compute_cost(3.6, 61.2) == pytest.approx(0.062)
    assert compute_cost(3.6, 0) == 0


def test_storage_is_prorated_on_a_730_hour_month() -> None:
    """100 GB at $0.08/GB-month for 730 hours costs $8; for 73 hours, $0.80."""
    assert storage_cost(100, 0.08, 730 * 3600) == pytest.approx(8.0)
    assert storage_cost(100, 0.08, 73 * 3600) == pytest.approx(0.8)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_inputs_are_rejected(bad: float) -> None:
    """Negative, NaN or infinite inputs raise ValueError rather than producing a price."""
    with pytest.raises(ValueError, match="finite number >= 0"):
        billed_seconds(bad)
    with pytest.raises(ValueError, match="hourly_usd"):
        compute_cost(bad, 10)
    with pytest.raises(ValueError, match="gb"):
        storage_cost(bad, 0.08, 10)


def test_estimate_adds_the_instance_and_its_prorated_disk(catalog: Catalog) -> None:
    """Max cost = hourly price x max runtime + gp3 disk over the same time; hourly_usd is the instance's price."""
    est = estimate(catalog, region="xx-test-1", instance_type="t9.large", spot=False, disk_gb=50, max_runtime_s=7200)
    assert est.hourly_usd == 1.0
    assert est.max_usd == pytest.approx(2.0 + 50 * 0.1 * 2 / 730)
    assert [line.item for line in est.lines] == ["t9.large (on-demand, xx-test-1)", "EBS gp3 disk (xx-test-1)"]
    assert est.lines[1].hourly_usd == pytest.approx(50 * 0.1 / 730)
    assert est.prices_as_of == dt.date(2025, 6, 1)  # the oldest price used
    assert est.lines[0].source == "Source A (as of 2026-01-03)"


def test_spot_estimate_uses_the_spot_price_and_its_own_source(catalog: Catalog) -> None:
    """A spot estimate prices the spot figure, citing the spot figure's source and date."""
    est = estimate(catalog, region="xx-test-1", instance_type="t9.large", spot=True, disk_gb=0, max_runtime_s=3600)
    assert est.hourly_usd == 0.3
    assert est.max_usd == pytest.approx(0.3)
    assert est.lines[0].source == "Source B (as of 2026-01-04)"
    assert len(est.lines) == 1


def test_without_max_runtime_the_maximum_is_unbounded(catalog: Catalog) -> None:
    """No limits.max_runtime: max_usd is None and every line says the cost is unbounded."""
    est = estimate(catalog, region="xx-test-1", instance_type="t9.large", spot=False, disk_gb=20, max_runtime_s=None)
    assert est.max_usd is None
    assert est.hourly_usd == 1.0
    assert all(line.max_usd is None and line.note and "unbounded" in line.note for line in est.lines)
    assert est.to_dict()["max_usd"] is None


def test_a_disk_needs_a_storage_price(catalog: Catalog) -> None:
    """With a disk in a region whose gp3 price is unknown the estimate fails; without a disk it does not."""
    with pytest.raises(PriceNotFoundError, match="gp3"):
        estimate(catalog, region="xx-bare-1", instance_type="t9.large", spot=False, disk_gb=8, max_runtime_s=60)
    est = estimate(catalog, region="xx-bare-1", instance_type="t9.large", spot=False, disk_gb=0, max_runtime_s=60)
    assert est.max_usd == pytest.approx(2.0 / 60)


def test_money_is_rounded_in_to_dict_only(catalog: Catalog) -> None:
    """Arithmetic keeps full precision; to_dict rounds money to six decimals."""
    est = estimate(catalog, region="xx-test-1", instance_type="t9.small", spot=False, disk_gb=0, max_runtime_s=3600)
    assert est.hourly_usd == 0.1234567891
    rendered = est.to_dict()
    assert rendered["hourly_usd"] == 0.123457
    assert rendered["prices_as_of"] == "2026-01-02"
    assert rendered["lines"][0]["unit_usd"] == 0.123457  # type: ignore[index]


def test_local_estimate_is_one_line_at_the_configured_price() -> None:
    """The local target is priced from its setting, prorated exactly, in one 'local machine' line."""
    est = estimate_local(0.5, 5400)
    assert est.hourly_usd == 0.5
    assert est.max_usd == pytest.approx(0.75)
    assert [(line.item, line.source) for line in est.lines] == [("local machine", LOCAL_PRICE_SOURCE)]
    assert est.prices_as_of is None
    unbounded = estimate_local(0.0, None)
    assert unbounded.max_usd is None
    assert unbounded.lines[0].note == "no limits.max_runtime: cost is unbounded"


def test_every_run_of_a_cloud_job_pays_its_own_minimum() -> None:
    """Two 30 s runs of an AWS job (a relaunch is a new instance) bill 2 x 60 s; on local they prorate."""
    from orchestrator.cost.accrual import accrued_cost
    from orchestrator.jobs.records import JobRecord

    run = {"started_at": 100.0, "ended_at": 130.0, "hourly_usd": 3.6, "past_runs": [(0.0, 30.0, 3.6)]}
    record = JobRecord(job_id="j-000000", name="j", team="t", owner="o", target="aws", created=0.0, **run)
    assert accrued_cost(record) == pytest.approx(0.12)
    assert record.with_run_closed(200.0).past_runs == [(0.0, 30.0, 3.6), (100.0, 130.0, 3.6)]
    assert accrued_cost(record.model_copy(update={"target": "local"})) == pytest.approx(0.06)
