"""`trainctl plan --offline --output json`: the estimate a user sees, with no engine and no credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cost.catalog import load_catalog

SPEC = """\
name: estimate-test
team: vision
owner: alice@example.com
target: aws
resources:
  instance_type: {instance_type}
  spot: {spot}
  region: us-east-1
code:
  run: python3 train.py
limits:
  max_runtime: 90m
"""


def write(tmp_path: Path, instance_type: str = "g4dn.xlarge", spot: bool = False) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(SPEC.format(instance_type=instance_type, spot=str(spot).lower()))
    return str(path)


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan offline must not need AWS credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_on_demand_estimate_is_catalog_price_times_runtime_plus_disk(cli, tmp_path: Path) -> None:
    """g4dn.xlarge on-demand, 90m: hourly_usd is the catalog figure; max_usd is 1.5 h of it plus 75 GB gp3 for 1.5 h
    (the GPU image's root snapshot, not the default disk_gb of 50)."""
    result = cli("plan", write(tmp_path), "--offline", "--output", "json")
    assert result.exit_code == 0, result.stderr
    estimate = json.loads(result.stdout)["estimate"]
    catalog = load_catalog()
    hourly = catalog.hourly("us-east-1", "g4dn.xlarge", spot=False).usd
    disk = 75 * catalog.storage_gb_month("us-east-1", "gp3").usd * 1.5 / 730
    assert estimate["hourly_usd"] == pytest.approx(hourly)
    assert estimate["max_usd"] == pytest.approx(1.5 * hourly + disk, abs=1e-6)
    assert estimate["currency"] == "USD" and estimate["prices_as_of"]
    assert {line["unit"] for line in estimate["lines"]} == {"instance-hour", "GB-month"}


def test_spot_estimate_uses_the_spot_price_and_shows_the_fallback(cli, tmp_path: Path) -> None:
    """A spot spec is priced at the catalog's spot figure; as it may fall back (the default), the plan also
    prices the on-demand case, in JSON and in text."""
    result = cli("plan", write(tmp_path, spot=True), "--offline", "--output", "json")
    assert result.exit_code == 0, result.stderr
    catalog = load_catalog()
    spot = catalog.hourly("us-east-1", "g4dn.xlarge", spot=True).usd
    on_demand = catalog.hourly("us-east-1", "g4dn.xlarge", spot=False).usd
    plan = json.loads(result.stdout)
    assert plan["estimate"]["hourly_usd"] == pytest.approx(spot)
    assert plan["estimate_if_fallback"]["hourly_usd"] == pytest.approx(on_demand)
    assert plan["estimate_if_fallback"]["max_usd"] > plan["estimate"]["max_usd"]
    text = cli("plan", write(tmp_path, spot=True), "--offline")
    assert f"if spot falls back to on-demand: ${on_demand:.4f}/h" in text.stdout


def test_no_fallback_estimate_when_no_fallback_can_happen(cli, tmp_path: Path) -> None:
    """Without spot plus on-demand fallback, the offline plan shows no fallback estimate (JSON null, no text line)."""
    result = cli("plan", write(tmp_path), "--offline", "--output", "json")
    assert json.loads(result.stdout)["estimate_if_fallback"] is None
    assert "falls back" not in cli("plan", write(tmp_path), "--offline").stdout


def test_unknown_instance_type_exits_2_naming_it(cli, tmp_path: Path) -> None:
    """An instance type the catalog does not know is an input error (exit 2) that names it, never a default price."""
    result = cli("plan", write(tmp_path, instance_type="g9.mega"), "--offline")
    assert result.exit_code == 2
    assert "g9.mega" in result.stderr


def test_gpu_spec_without_disk_gb_plans_a_root_volume_of_the_image_snapshot(cli, tmp_path: Path) -> None:
    """A GPU spec with the default disk_gb (50) plans a 75 GiB root (the image's snapshot), says so and prices it."""
    result = cli("plan", write(tmp_path), "--offline", "--output", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    template = next(r for r in plan["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")
    assert template["inputs"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] >= 75
    assert plan["preflight"]["root_volume"] == {
        "requested_gb": 50,
        "effective_gb": 75,
        "basis": plan["preflight"]["root_volume"]["basis"],
    }
    [disk] = [line for line in plan["estimate"]["lines"] if line["unit"] == "GB-month"]
    assert disk["quantity"] == 75
    assert any("root volume: 75 GiB instead of resources.disk_gb 50" in line for line in plan["notices"])
    assert "notice: root volume: 75 GiB" in result.stderr


def test_cpu_spec_keeps_its_disk_gb_without_a_notice(cli, tmp_path: Path) -> None:
    """A CPU type's image (8 GiB snapshot) leaves the default 50 GiB as it is, with no notice."""
    result = cli("plan", write(tmp_path, instance_type="t3.micro"), "--offline", "--output", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["preflight"]["root_volume"]["effective_gb"] == 50 and plan["notices"] == []


def test_text_plan_shows_the_effective_root_volume_and_its_price(cli, tmp_path: Path) -> None:
    """The text plan names the root volume launched, why it differs from disk_gb, and prices that size."""
    result = cli("plan", write(tmp_path), "--offline")
    assert result.exit_code == 0, result.stderr
    assert "root volume: 75 GiB gp3 (resources.disk_gb 50:" in result.stdout
    assert "EBS gp3 disk (us-east-1), 75 GB" in result.stdout
