"""The price catalog: sourced data, lookups that never default, and its refresh from AWS."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cost.billing import estimate
from orchestrator.cost.catalog import Catalog, load_catalog, write_catalog
from orchestrator.cost.refresh import refresh_catalog
from orchestrator.errors import CloudError, ExitCode, InvalidInputError, PriceNotFoundError, TransientCloudError

GPU = {"g4dn", "g5", "g6", "g6e", "p3", "p4d", "p5"}
CPU = {"t3", "m5", "m6i", "m7i", "c5", "c6i"}
# What could be sourced (docs/prices.md): every family in us-east-1; elsewhere what AWS offers and the sources covered.
EXPECTED_FAMILIES = {
    "us-east-1": GPU | CPU,
    "us-west-2": GPU | {"c5", "c6i"},
    "eu-west-1": {"g4dn", "g5", "p3", "p4d", "c5", "c6i"},
}


def raw_catalog() -> dict[str, Any]:
    text = resources.files("orchestrator").joinpath("data/prices.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_every_figure_is_positive_sourced_and_dated() -> None:
    """Each price in the packaged file is > 0, cites a source listed in `sources`, and carries an ISO as_of date."""
    doc = raw_catalog()
    sources = doc["sources"]
    for source in sources.values():
        assert source["title"] and source["url"].startswith("https://") and dt.date.fromisoformat(source["retrieved"])
    figures = 0
    for region, prices in doc["regions"].items():
        for name, entry in prices["instances"].items():
            cited = [("on_demand", entry["source"], entry["as_of"])]
            if "spot" in entry:
                cited.append(("spot", entry["spot_source"], entry["spot_as_of"]))
            for kind, source, as_of in cited:
                assert entry[kind] > 0, (region, name, kind)
                assert source in sources, (region, name, kind)
                assert dt.date.fromisoformat(as_of) <= dt.date.fromisoformat(doc["as_of"])
                figures += 1
        storage = prices.get("storage", {})
        for kind in ("gp3", "s3_standard"):
            if f"{kind}_gb_month" in storage:
                assert storage[f"{kind}_gb_month"] > 0
                assert (storage.get(f"{kind}_source") or storage["source"]) in sources
                assert dt.date.fromisoformat(storage.get(f"{kind}_as_of") or storage["as_of"])
                figures += 1
    assert figures > 300


def test_the_three_regions_and_every_sourced_family_are_present() -> None:
    """us-east-1, us-west-2 and eu-west-1 are priced, with every family that could be sourced for each."""
    catalog = load_catalog()
    assert set(catalog.regions()) >= set(EXPECTED_FAMILIES)
    for region, families in EXPECTED_FAMILIES.items():
        priced = {t.split(".")[0] for t in catalog.instance_types(region)}
        assert families <= priced, (region, families - priced)
    assert catalog.storage_gb_month("us-east-1", "gp3").usd > 0
    assert catalog.storage_gb_month("us-east-1", "s3_standard").usd > 0


def test_lookups_return_the_figure_with_its_source_and_date() -> None:
    """A Price carries the figure, its kind, the source's title and the figure's own date."""
    catalog = load_catalog()
    on_demand = catalog.hourly("us-east-1", "g4dn.xlarge", spot=False)
    spot = catalog.hourly("us-east-1", "g4dn.xlarge", spot=True)
    raw = raw_catalog()["regions"]["us-east-1"]["instances"]["g4dn.xlarge"]
    assert (on_demand.usd, on_demand.kind, on_demand.as_of.isoformat()) == (raw["on_demand"], "on_demand", raw["as_of"])
    assert (spot.usd, spot.kind, spot.as_of.isoformat()) == (raw["spot"], "spot", raw["spot_as_of"])
    assert "Karpenter" in on_demand.source and "SkyPilot" in spot.source
    assert 0 < spot.usd < on_demand.usd


def test_instance_types_are_listed_by_family_then_size() -> None:
    """Sizes sort as AWS orders them (large < xlarge < 2xlarge < 12xlarge < metal), not alphabetically."""
    g4dn = [t for t in load_catalog().instance_types("us-east-1") if t.startswith("g4dn.")]
    assert g4dn == [f"g4dn.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "metal")]


def test_an_unknown_instance_type_names_itself_and_its_family() -> None:
    """No price for a type is exit 2, names type and region, and lists the family's priced sizes."""
    with pytest.raises(PriceNotFoundError) as caught:
        load_catalog().hourly("us-east-1", "g4dn.3xlarge", spot=False)
    err = caught.value
    assert err.exit_code == ExitCode.INVALID_INPUT == 2
    assert "'g4dn.3xlarge'" in err.message and "'us-east-1'" in err.message
    assert err.hint is not None and "g4dn.xlarge, g4dn.2xlarge" in err.hint


def test_a_type_priced_only_elsewhere_says_where() -> None:
    """A type known in other regions but not this one says where it is priced."""
    with pytest.raises(PriceNotFoundError) as caught:
        load_catalog().hourly("eu-west-1", "g6e.xlarge", spot=False)
    assert caught.value.hint is not None and "g6e.xlarge is priced in us-east-1, us-west-2" in caught.value.hint


def test_an_unknown_region_names_itself_and_lists_the_known_ones() -> None:
    """An unpriced region is exit 2, named in the message, with the known regions in the hint."""
    with pytest.raises(PriceNotFoundError) as caught:
        load_catalog().hourly("mars-north-1", "g4dn.xlarge", spot=False)
    assert caught.value.exit_code == 2 and "'mars-north-1'" in caught.value.message
    assert caught.value.hint is not None and "eu-west-1, us-east-1, us-west-2" in caught.value.hint


def test_a_missing_spot_figure_is_an_error_not_the_on_demand_price() -> None:
    """A type with an on-demand but no spot price fails a spot lookup, naming the type."""
    catalog = load_catalog()
    assert catalog.hourly("us-east-1", "m5.large", spot=False).usd > 0
    with pytest.raises(PriceNotFoundError, match=r"no spot price for instance type 'm5.large' in region 'us-east-1'"):
        catalog.hourly("us-east-1", "m5.large", spot=True)


def test_a_missing_storage_price_lists_the_regions_that_have_one() -> None:
    """A region without a gp3 figure is an error whose hint lists the regions that have one."""
    with pytest.raises(PriceNotFoundError, match="no gp3 storage price for region 'eu-west-1'") as caught:
        load_catalog().storage_gb_month("eu-west-1", "gp3")
    assert caught.value.hint is not None and "us-east-1" in caught.value.hint


def test_g4dn_xlarge_for_90_minutes_costs_one_and_a_half_hours_plus_disk() -> None:
    """On-demand g4dn.xlarge in us-east-1 for 90m: hourly = catalog figure, max = 1.5 x hourly + 50 GB gp3 for 1.5 h."""
    catalog = load_catalog()
    hourly = catalog.hourly("us-east-1", "g4dn.xlarge", spot=False).usd
    gp3 = catalog.storage_gb_month("us-east-1", "gp3").usd
    est = estimate(catalog, region="us-east-1", instance_type="g4dn.xlarge", spot=False, disk_gb=50, max_runtime_s=90 * 60)
    assert est.hourly_usd == hourly
    assert est.max_usd == pytest.approx(1.5 * hourly + 50 * gp3 * 1.5 / 730)
    assert est.currency == "USD"


def test_the_packaged_catalog_is_read_once() -> None:
    """load_catalog() without a path returns the same cached object."""
    assert load_catalog() is load_catalog()


def test_a_catalog_file_that_is_not_json_is_invalid_input(tmp_path: Path) -> None:
    """A user-supplied catalog that is not JSON, or missing, is exit 2 naming the file."""
    bad = tmp_path / "prices.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="is not JSON"):
        load_catalog(bad)
    with pytest.raises(InvalidInputError, match="cannot read price catalog"):
        load_catalog(tmp_path / "absent.json")


def test_a_figure_citing_an_unknown_source_is_rejected() -> None:
    """A document whose figure cites a source not in `sources` does not load."""
    doc = {
        "as_of": "2026-01-01",
        "sources": {},
        "regions": {"r": {"instances": {"x.large": {"on_demand": 1, "source": "nope", "as_of": "2026-01-01"}}}},
    }
    with pytest.raises(InvalidInputError) as caught:
        Catalog.from_document(doc)
    assert any("'nope'" in detail for detail in caught.value.details)


# ---- refresh from AWS, with fake clients answering in AWS's shapes -------------------------------------------


def price_item(unit: str, usd: str, begin: str = "0") -> str:
    """One PriceList entry as the Pricing API returns it: a JSON string."""
    dims = {"SKU.TERM.DIM": {"unit": unit, "beginRange": begin, "pricePerUnit": {"USD": usd}}}
    return json.dumps({"product": {"sku": "SKU"}, "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": dims}}}})


class FakePricing:
    """get_products from a table keyed by (service, location, what); one PriceList item per page, via NextToken."""

    def __init__(self, answers: dict[tuple[str, str, str], list[str]]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        filters = {f["Field"]: f["Value"] for f in kwargs["Filters"]}
        what = filters.get("instanceType") or filters.get("volumeApiName") or filters["storageClass"]
        items = self.answers.get((kwargs["ServiceCode"], filters["location"], what), [])
        start = int(kwargs.get("NextToken", "0"))
        page: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": items[start : start + 1]}
        if start + 1 < len(items):
            page["NextToken"] = str(start + 1)
        return page


class FakeSpotHistory:
    """describe_spot_price_history answering canned pages, chained by NextToken."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def describe_spot_price_history(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = int(kwargs.get("NextToken", "0"))
        page: dict[str, Any] = {"SpotPriceHistory": self.pages[index]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page


NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
VIRGINIA = "US East (N. Virginia)"


def spot(instance_type: str, zone: str, usd: str) -> dict[str, Any]:
    return {
        "AvailabilityZone": zone,
        "InstanceType": instance_type,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": usd,
        "Timestamp": NOW,
    }


def fake_clients() -> tuple[FakePricing, FakeSpotHistory]:
    pricing = FakePricing(
        {
            # the zero-priced item on page 1 is skipped; the real price is on page 2
            ("AmazonEC2", VIRGINIA, "g4dn.xlarge"): [price_item("Hrs", "0.0000000000"), price_item("Hrs", "0.5260000000")],
            ("AmazonEC2", VIRGINIA, "g5.xlarge"): [price_item("Hrs", "1.0060000000")],
            ("AmazonEC2", VIRGINIA, "x9.odd"): [price_item("Hrs", "1.0"), price_item("Hrs", "2.0")],
            ("AmazonEC2", VIRGINIA, "gp3"): [price_item("GB-Mo", "0.0800000000")],
            ("AmazonS3", VIRGINIA, "General Purpose"): [
                price_item("GB-Mo", "0.0210000000", begin="512000"),
                price_item("GB-Mo", "0.0230000000", begin="0"),
            ],
        }
    )
    history = FakeSpotHistory(
        [
            [spot("g4dn.xlarge", "us-east-1a", "0.2100"), spot("g4dn.xlarge", "us-east-1b", "0.2500")],
            [spot("g4dn.xlarge", "us-east-1c", "0.2200")],
        ]
    )
    return pricing, history


def test_refresh_builds_a_catalog_from_the_pricing_api_and_spot_history() -> None:
    """Pages are followed; on-demand is the single priced item; spot is the median of the history; all dated today."""
    pricing, history = fake_clients()
    doc = refresh_catalog(pricing, {"us-east-1": history}, ["us-east-1"], ["g4dn.xlarge", "g5.xlarge"], now=NOW)
    g4dn = doc["regions"]["us-east-1"]["instances"]["g4dn.xlarge"]
    assert g4dn == {
        "on_demand": 0.526,
        "source": "aws-pricing-api",
        "as_of": "2026-11-28",
        "spot": 0.22,
        "spot_source": "ec2-spot-price-history",
        "spot_as_of": "2026-11-28",
        "spot_basis": "median of 3 spot prices",
    }
    assert doc["regions"]["us-east-1"]["storage"] == {
        "gp3_gb_month": 0.08,
        "gp3_source": "aws-pricing-api",
        "gp3_as_of": "2026-11-28",
        "s3_standard_gb_month": 0.023,
        "s3_standard_source": "aws-pricing-api",
        "s3_standard_as_of": "2026-11-28",
    }
    assert {"region": "us-east-1", "item": "g5.xlarge", "kind": "spot", "reason": "no spot price history"} in doc["missing"]
    catalog = Catalog.from_document(doc)
    assert catalog.hourly("us-east-1", "g4dn.xlarge", spot=True).source == "EC2 spot price history"
    assert catalog.hourly("us-east-1", "g5.xlarge", spot=False).source == "AWS Pricing API"
    assert catalog.hourly("us-east-1", "g5.xlarge", spot=False).as_of == dt.date(2026, 11, 28)


def test_refresh_queries_linux_shared_tenancy_by_location_and_recent_spot_history() -> None:
    """The Pricing API is asked for Linux/Shared/NA/Used at the region's long name; spot history for the last day."""
    pricing, history = fake_clients()
    refresh_catalog(pricing, {"us-east-1": history}, ["us-east-1"], ["g4dn.xlarge"], now=NOW)
    first = pricing.calls[0]
    assert first["ServiceCode"] == "AmazonEC2"
    assert {f["Field"]: f["Value"] for f in first["Filters"]} == {
        "instanceType": "g4dn.xlarge",
        "location": VIRGINIA,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    assert [call.get("NextToken") for call in history.calls] == [None, "1"]
    assert history.calls[0]["ProductDescriptions"] == ["Linux/UNIX"]
    assert history.calls[0]["StartTime"] == NOW - dt.timedelta(days=1)


def test_refresh_leaves_out_what_aws_does_not_answer_unambiguously() -> None:
    """No price, or two different prices, leaves the type out and lists it under `missing`; nothing is guessed."""
    pricing, history = fake_clients()
    doc = refresh_catalog(pricing, {"us-east-1": history}, ["us-east-1"], ["x9.odd", "x9.none"], now=NOW)
    assert doc["regions"]["us-east-1"]["instances"] == {}
    reasons = {m["item"]: m["reason"] for m in doc["missing"] if m["kind"] == "on_demand"}
    assert reasons == {
        "x9.odd": "the Pricing API returned 2 matching prices: [1.0, 2.0]",
        "x9.none": "the Pricing API returned 0 matching prices: []",
    }


def test_a_refreshed_catalog_is_written_atomically_and_reads_back(tmp_path: Path) -> None:
    """write_catalog leaves only the target file, which load_catalog reads back to the same prices."""
    pricing, history = fake_clients()
    doc = refresh_catalog(pricing, {"us-east-1": history}, ["us-east-1"], ["g4dn.xlarge"], now=NOW)
    target = tmp_path / "cache" / "prices.json"
    write_catalog(doc, target)
    assert [p.name for p in target.parent.iterdir()] == ["prices.json"]
    assert load_catalog(target).hourly("us-east-1", "g4dn.xlarge", spot=True).usd == 0.22


def test_an_invalid_document_is_never_written(tmp_path: Path) -> None:
    """write_catalog validates first: a figure without a source raises and no file appears."""
    target = tmp_path / "prices.json"
    doc = {"as_of": "2026-11-28", "sources": {}, "regions": {"r": {"instances": {"x.large": {"on_demand": 1}}}}}
    with pytest.raises(InvalidInputError):
        write_catalog(doc, target)
    assert not target.exists()


class ThrottledError(Exception):
    """Shaped like botocore's ClientError: a `response` with an error code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": "slow down"}}


class FailingPricing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected", "retryable"),
    [(ThrottledError("ThrottlingException"), TransientCloudError, True), (RuntimeError("boom"), CloudError, False)],
)
def test_client_errors_are_translated_at_the_seam(error: Exception, expected: type[CloudError], retryable: bool) -> None:
    """A throttled call becomes a retryable cloud error (exit 5); any other failure a non-retryable one."""
    history = FakeSpotHistory([[]])
    with pytest.raises(expected) as caught:
        refresh_catalog(FailingPricing(error), {"us-east-1": history}, ["us-east-1"], ["g4dn.xlarge"], now=NOW)
    assert caught.value.retryable is retryable and caught.value.exit_code == 5
    assert caught.value.__cause__ is error


def test_refresh_rejects_a_region_it_cannot_name() -> None:
    """A region without a known Pricing API location name is invalid input, listing the ones it knows."""
    pricing, history = fake_clients()
    with pytest.raises(InvalidInputError, match="'mars-north-1'") as caught:
        refresh_catalog(pricing, {"mars-north-1": history}, ["mars-north-1"], ["g4dn.xlarge"], now=NOW)
    assert caught.value.hint is not None and "us-east-1" in caught.value.hint
