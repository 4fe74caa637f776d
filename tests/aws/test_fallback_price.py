"""A spot job that falls back to on-demand is priced, and budgeted, at the on-demand price."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.agent.__main__ import main as agent_main
from orchestrator.agent.config import AgentConfig
from orchestrator.compile import CompiledJob
from orchestrator.cost.catalog import current_catalog
from orchestrator.cost.pricing import price_job
from orchestrator.settings import get_settings
from orchestrator.targets.aws.bootstrap import agent_config
from orchestrator.testing.imds import FakeImds


@pytest.mark.parametrize(("spot", "fallback", "priced"), [(True, True, True), (True, False, False), (False, True, False)])
def test_fallback_price_is_known_only_when_a_fallback_can_happen(
    make_job: Callable[..., CompiledJob], spot: bool, fallback: bool, priced: bool
) -> None:
    """Compiling prices a spot job's on-demand fallback only when it may fall back; the spot price stays its price."""
    spec = make_job(spot=spot, fallback=fallback).spec
    catalog = current_catalog()
    on_demand = catalog.hourly("us-east-1", "g5.xlarge", spot=False).usd
    requested = catalog.hourly("us-east-1", "g5.xlarge", spot=spot).usd
    prices = price_job(spec, "us-east-1", get_settings()).prices
    assert prices.on_demand_hourly_usd == (on_demand if priced else None)
    assert prices.hourly_usd == requested


def test_the_run_is_priced_by_what_was_bought(make_job: Callable[..., CompiledJob]) -> None:
    """Stack output `purchased`: on-demand after a fallback costs the on-demand price; spot the spot price."""
    job = make_job(spot=True, on_demand_hourly_usd=3.0)
    assert job.run_price({"purchased": "spot"}) == 1.0
    assert job.run_price({"purchased": "on-demand"}) == 3.0
    assert make_job(spot=True).run_price({"purchased": "on-demand"}) == 1.0  # no fallback price known


def test_the_instance_agent_budgets_at_the_price_of_its_market(make_job: Callable[..., CompiledJob]) -> None:
    """The agent config carries both prices; on an on-demand instance the budget runs out 3x sooner."""
    config = agent_config(make_job(spot=True, on_demand_hourly_usd=3.0))
    assert (config.hourly_usd, config.on_demand_hourly_usd) == (1.0, 3.0)
    prices = {"hourly_usd": 1.0, "on_demand_hourly_usd": 3.0, "max_cost_usd": 6.0}
    budgeted = AgentConfig(job_id="j", workdir="/w", run="true", store_url="/s", **prices)
    assert budgeted.for_market("spot").deadline(0.0) == (6 * 3600.0, "budget")
    assert budgeted.for_market(None).deadline(0.0) == (6 * 3600.0, "budget")
    assert budgeted.for_market("on-demand").deadline(0.0) == (2 * 3600.0, "budget")


def test_an_agent_on_an_on_demand_instance_stops_at_the_on_demand_budget(imds: FakeImds, tmp_path: Path) -> None:
    """The real agent entry point asks IMDS how it was bought: on-demand at $3600/h, a $2 budget stops the run."""
    imds.market = b"on-demand"
    (tmp_path / "work").mkdir()
    config = AgentConfig(
        job_id="fallback-abc123",
        workdir=str(tmp_path / "work"),
        run="sleep 60",
        store_url=f"file://{tmp_path / 'store'}",
        spot_notice_url=imds.url,
        hourly_usd=36.0,
        on_demand_hourly_usd=3600.0,
        max_cost_usd=2.0,
        grace_period_s=1.0,
        heartbeat_s=0.2,
    )
    path = tmp_path / "agent.json"
    path.write_text(config.to_json())
    assert agent_main([str(path)]) != 0
    status = json.loads((tmp_path / "store" / "status.json").read_text())
    # at the spot price the budget would last 200 s: the 60 s run would have ended on its own first
    assert status["reason"] == "budget" and status["hourly_usd"] == 3600.0
