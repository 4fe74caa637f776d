"""A job's prices are decided once, at compile: from the catalog for AWS, from the setting for local."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.compile import compile_job
from orchestrator.cost.catalog import load_catalog
from orchestrator.errors import PriceNotFoundError
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from tests.conftest import write_job


def _aws_job(tmp_path: Path, region: str, *, spot: bool = True) -> Path:
    resources = f"target: aws\nresources:\n  instance_type: g5.xlarge\n  spot: {str(spot).lower()}\n  region: {region}\n"
    return write_job(tmp_path, extra=resources + "limits:\n  max_runtime: 2h\n")


def test_aws_job_is_priced_from_the_catalog_in_its_region(tmp_path: Path) -> None:
    """Compiling decides region and prices: the spot price, and the on-demand price of its fallback."""
    job = compile_job(load_spec(_aws_job(tmp_path, "us-west-2")), "lifecycle-test-abc123", get_settings(), read_env=False)
    catalog = load_catalog()
    assert job.region == "us-west-2"
    assert job.prices.hourly_usd == catalog.hourly("us-west-2", "g5.xlarge", spot=True).usd
    assert job.prices.on_demand_hourly_usd == catalog.hourly("us-west-2", "g5.xlarge", spot=False).usd


def test_a_region_without_a_disk_price_still_runs_but_cannot_be_estimated(tmp_path: Path) -> None:
    """The packaged catalog has no gp3 price in us-west-2: `up` still prices the instance; only the
    estimate (which adds the disk) says what is missing."""
    job = compile_job(load_spec(_aws_job(tmp_path, "us-west-2")), "lifecycle-test-abc123", get_settings(), read_env=False)
    assert job.pricing is not None and job.prices.hourly_usd > 0
    with pytest.raises(PriceNotFoundError, match="gp3"):
        job.pricing.estimate()


def test_local_job_is_priced_by_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local job costs TRAINCTL_LOCAL_HOURLY_USD, has no region and no fallback price."""
    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "1.5")
    get_settings.cache_clear()
    job = compile_job(load_spec(write_job(tmp_path)), "lifecycle-test-abc123", get_settings(), read_env=False)
    assert (job.region, job.prices.hourly_usd, job.prices.on_demand_hourly_usd) == (None, 1.5, None)
    assert job.pricing is not None and job.pricing.estimate().hourly_usd == 1.5


def _priced(tmp_path: Path, nodes: int, *, region: str = "us-east-1", spot: bool = True) -> tuple[float, float | None, float]:
    resources = (
        f"target: aws\nresources:\n  instance_type: g5.xlarge\n  nodes: {nodes}\n"
        f"  spot: {str(spot).lower()}\n  region: {region}\n"
    )
    spec = write_job(tmp_path / f"n{nodes}", extra=resources + "limits:\n  max_runtime: 2h\n")
    job = compile_job(load_spec(spec), "lifecycle-test-abc123", get_settings(), read_env=False)
    assert job.pricing is not None
    estimate = job.pricing.estimate()
    assert estimate.max_usd is not None
    return job.prices.hourly_usd, job.prices.on_demand_hourly_usd, estimate.max_usd


def test_multi_node_aws_job_costs_n_times_one_node(tmp_path: Path) -> None:
    """A 4-node job's prices (spot and its fallback) and its maximum cost (instances and disks) are 4 x one node's."""
    one_hourly, one_fallback, one_max = _priced(tmp_path, 1)
    four_hourly, four_fallback, four_max = _priced(tmp_path, 4)
    assert one_fallback is not None and four_fallback is not None
    assert four_hourly == pytest.approx(4 * one_hourly)
    assert four_fallback == pytest.approx(4 * one_fallback)
    assert four_max == pytest.approx(4 * one_max)


def test_multi_node_estimate_lines_count_every_node(tmp_path: Path) -> None:
    """The estimate shows 4 instance-hours per hour and 4 disks, and its hourly total is 4 x the catalog price."""
    spec = write_job(
        tmp_path,
        extra="target: aws\nresources:\n  instance_type: g5.xlarge\n  nodes: 4\n  disk_gb: 100\n  region: us-east-1\n"
        "limits:\n  max_runtime: 2h\n",
    )
    job = compile_job(load_spec(spec), "lifecycle-test-abc123", get_settings(), read_env=False)
    assert job.pricing is not None
    estimate = job.pricing.estimate()
    instances, disks = estimate.lines
    assert (instances.quantity, disks.quantity) == (4, 400)
    assert instances.item.startswith("4 x g5.xlarge") and "4 nodes" in disks.item
    assert estimate.hourly_usd == pytest.approx(4 * load_catalog().hourly("us-east-1", "g5.xlarge", spot=False).usd)
    assert job.prices.nodes == 4


def test_local_nodes_share_the_machine_price(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3-node local job runs on this one machine: it costs TRAINCTL_LOCAL_HOURLY_USD, not 3 x it."""
    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "1.5")
    get_settings.cache_clear()
    job = compile_job(
        load_spec(write_job(tmp_path, extra="resources:\n  nodes: 3\n")), "lifecycle-test-abc123", get_settings(), read_env=False
    )
    assert job.prices.hourly_usd == 1.5
