"""`trainctl prices show` and `trainctl prices refresh` (fake Pricing API and EC2 clients with canned answers)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cost.catalog import catalog_in_force, load_catalog

TODAY = dt.datetime.now(dt.UTC).date().isoformat()
LOCATION = "US East (N. Virginia)"
ON_DEMAND = {("AmazonEC2", LOCATION, "g5.xlarge"): "1.111", ("AmazonEC2", LOCATION, "g4dn.xlarge"): "0.555"}
STORAGE = {("AmazonEC2", LOCATION): "0.09", ("AmazonS3", LOCATION): "0.025"}
SPOT = {"g5.xlarge": ["0.40", "0.42", "0.50"], "g4dn.xlarge": ["0.20"]}


def product(usd: str, unit: str) -> str:
    """One Pricing API PriceList item, as the API returns it (a JSON string)."""
    dims = {"D1": {"unit": unit, "beginRange": "0", "pricePerUnit": {"USD": usd}}}
    return json.dumps({"product": {}, "terms": {"OnDemand": {"T1": {"priceDimensions": dims}}}})


class FakePricing:
    """get_products answering from ON_DEMAND and STORAGE by the request's filters."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_products(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        filters = {f["Field"]: f["Value"] for f in request["Filters"]}
        service, location = request["ServiceCode"], filters["location"]
        if "instanceType" in filters:
            usd = ON_DEMAND.get((service, location, filters["instanceType"]))
            return {"PriceList": [product(usd, "Hrs")] if usd else []}
        usd = STORAGE.get((service, location))
        return {"PriceList": [product(usd, "GB-Mo")] if usd else []}


class FakeEC2:
    """describe_spot_price_history answering from SPOT, one record per availability-zone price."""

    def describe_spot_price_history(self, **request: Any) -> dict[str, Any]:
        history = [
            {"InstanceType": t, "SpotPrice": p, "AvailabilityZone": f"us-east-1{'abc'[i]}"}
            for t in request["InstanceTypes"]
            for i, p in enumerate(SPOT.get(t, []))
        ]
        return {"SpotPriceHistory": history}


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """orchestrator.cloud.aws.client hands out the fakes and records which (service, region) was asked for."""
    from orchestrator.cloud import aws

    made: dict[str, Any] = {"pricing": FakePricing(), "asked": []}

    def fake_client(service: str, *, region: str | None = None, **_: Any) -> Any:
        made["asked"].append((service, region))
        return made["pricing"] if service == "pricing" else FakeEC2()

    monkeypatch.setattr(aws, "client", fake_client)
    return made


def refresh(cli, *args: str) -> Any:
    return cli("prices", "refresh", "--region", "us-east-1", "--type", "g5.xlarge", "--type", "g4dn.xlarge", *args)


def test_show_lists_prices_with_source_and_date(cli) -> None:
    """show --region --type prints the on-demand and spot figures of that type, each with its source and as-of date."""
    result = cli("prices", "show", "--region", "us-east-1", "--type", "g5.xlarge", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["catalog"] == "the catalog packaged with trainctl"
    kinds = {row["kind"]: row for row in doc["entries"]}
    assert set(kinds) == {"on_demand", "spot"}
    assert (kinds["on_demand"]["usd"], kinds["on_demand"]["source"], kinds["on_demand"]["as_of"]) == (
        1.006,
        "karpenter-us-east-1",
        "2026-02-09",
    )
    assert kinds["spot"]["source"] == "skypilot-catalog-v8" and kinds["spot"]["source_title"]


def test_show_text_table(cli) -> None:
    """Text output names the catalog and prints a table with SOURCE and AS OF columns; a family selects every size."""
    result = cli("prices", "show", "--region", "eu-west-1", "--type", "g5")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("catalog: the catalog packaged with trainctl")
    assert lines[1].split() == ["REGION", "ITEM", "KIND", "USD", "UNIT", "SOURCE", "AS", "OF"]
    items = {line.split()[1] for line in lines[2:]}
    assert "g5.xlarge" in items and "g5.48xlarge" in items and all(i.startswith("g5.") for i in items)


def test_show_includes_storage_without_type(cli) -> None:
    """Without --type, show also lists storage prices (per GB-month) of the region."""
    doc = json.loads(cli("prices", "show", "--region", "us-east-1", "-o", "json").stdout)
    storage = {row["item"]: row for row in doc["entries"] if row["unit"] == "GB-month"}
    assert storage["gp3"]["usd"] == 0.08 and storage["gp3"]["source"] == "saisci-gp3"


@pytest.mark.parametrize("args", [("--region", "mars-north-1"), ("--region", "us-east-1", "--type", "z9.huge")])
def test_show_unknown_region_or_type_exits_2(cli, args: tuple[str, ...]) -> None:
    """Asking for a region or type the catalog lacks is invalid input (exit 2), never an empty success."""
    result = cli("prices", "show", *args)
    assert result.exit_code == 2
    assert "no prices for" in result.stderr


def test_refresh_writes_user_catalog_from_aws_answers(cli, fake_aws: dict[str, Any], trainctl_home: Path) -> None:
    """refresh asks the Pricing API (us-east-1) and spot history, and writes $TRAINCTL_HOME/prices.json with those figures."""
    result = refresh(cli, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert ("pricing", "us-east-1") in fake_aws["asked"] and ("ec2", "us-east-1") in fake_aws["asked"]
    summary = json.loads(result.stdout)
    assert summary["path"] == str(trainctl_home / "prices.json")
    assert summary["prices"] == {"on_demand": 2, "spot": 2, "storage": 2}
    catalog = load_catalog(trainctl_home / "prices.json")
    g5 = catalog.hourly("us-east-1", "g5.xlarge", spot=False)
    assert (g5.usd, g5.source, g5.as_of.isoformat()) == (1.111, "AWS Pricing API", TODAY)
    assert catalog.hourly("us-east-1", "g5.xlarge", spot=True).usd == 0.42  # median of the zones
    assert catalog.storage_gb_month("us-east-1", "gp3").usd == 0.09


def test_refresh_merges_over_the_catalog_in_force(cli, fake_aws: dict[str, Any], trainctl_home: Path) -> None:
    """Figures AWS was not asked about stay, with their own sources and dates; the refreshed ones replace theirs."""
    assert refresh(cli).exit_code == 0
    catalog = load_catalog(trainctl_home / "prices.json")
    p5 = catalog.hourly("us-east-1", "p5.48xlarge", spot=False)
    assert p5.as_of.isoformat() == "2026-02-09" and "Karpenter" in p5.source
    assert catalog.hourly("us-west-2", "g5.xlarge", spot=False).usd > 0
    assert catalog.storage_gb_month("us-east-1", "s3_standard").usd == 0.025


def test_refresh_no_spot_keeps_known_spot_figures(cli, fake_aws: dict[str, Any], trainctl_home: Path) -> None:
    """--no-spot asks no spot history; the earlier spot figure stays, still citing its own source and date."""
    result = refresh(cli, "--no-spot")
    assert result.exit_code == 0, result.stderr
    assert ("ec2", "us-east-1") not in fake_aws["asked"]
    catalog = load_catalog(trainctl_home / "prices.json")
    spot = catalog.hourly("us-east-1", "g5.xlarge", spot=True)
    packaged = load_catalog().hourly("us-east-1", "g5.xlarge", spot=True)
    assert (spot.usd, spot.source, spot.as_of) == (packaged.usd, packaged.source, packaged.as_of)
    assert catalog.hourly("us-east-1", "g5.xlarge", spot=False).usd == 1.111


def test_refresh_replace_writes_only_fresh_figures(cli, fake_aws: dict[str, Any], trainctl_home: Path) -> None:
    """--replace writes only what AWS answered."""
    assert refresh(cli, "--replace").exit_code == 0
    catalog = load_catalog(trainctl_home / "prices.json")
    assert catalog.regions() == ["us-east-1"] and catalog.instance_types("us-east-1") == ["g4dn.xlarge", "g5.xlarge"]


def test_refresh_with_no_answers_writes_nothing(cli, fake_aws: dict[str, Any], trainctl_home: Path) -> None:
    """When the Pricing API prices none of the types, refresh fails (exit 5) and leaves the catalog alone."""
    result = cli("prices", "refresh", "--region", "us-east-1", "--type", "z9.huge")
    assert result.exit_code == 5
    assert "not written" in result.stderr
    assert not (trainctl_home / "prices.json").exists()


def test_show_and_reports_prefer_the_user_catalog(cli, fake_aws: dict[str, Any], trainctl_home: Path) -> None:
    """After a refresh, show reads $TRAINCTL_HOME/prices.json: the fresh figure, from the Pricing API, dated today."""
    assert refresh(cli).exit_code == 0
    doc = json.loads(cli("prices", "show", "--region", "us-east-1", "--type", "g5.xlarge", "-o", "json").stdout)
    assert doc["catalog"] == str(trainctl_home / "prices.json")
    on_demand = next(row for row in doc["entries"] if row["kind"] == "on_demand")
    assert (on_demand["usd"], on_demand["source"], on_demand["as_of"]) == (1.111, "aws-pricing-api", TODAY)
    assert catalog_in_force(trainctl_home)[1] == str(trainctl_home / "prices.json")


def test_refresh_failure_is_a_cloud_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pricing API failure (e.g. access denied) exits 5 with a hint about credentials and permissions."""
    from orchestrator.cloud import aws

    class Denied:
        def get_products(self, **_: Any) -> dict[str, Any]:
            raise PermissionError("AccessDeniedException: not allowed")

        def describe_spot_price_history(self, **_: Any) -> dict[str, Any]:
            return {"SpotPriceHistory": []}

    monkeypatch.setattr(aws, "client", lambda service, **_: Denied())
    result = cli("prices", "refresh", "--region", "us-east-1", "--type", "g5.xlarge")
    assert result.exit_code == 5
    assert "pricing:GetProducts" in result.stderr
