"""Refreshing the price catalog from AWS: the Pricing API for on-demand and storage prices, EC2 spot price
history for spot prices, through clients built elsewhere (no boto3 import here).

``refresh_prices`` is what `trainctl prices refresh` runs: it asks AWS, merges the answer over the catalog
in force (figures AWS did not answer for are kept with their own source and date) and writes the user
catalog atomically (``write_catalog``). A figure AWS does not answer with exactly one price is never guessed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.cost.catalog import PACKAGED_RESOURCE, USER_CATALOG, catalog_in_force, write_catalog
from orchestrator.errors import CloudError, InternalError, InvalidInputError, TransientCloudError

PRICING_API_SOURCE = "aws-pricing-api"
SPOT_HISTORY_SOURCE = "ec2-spot-price-history"
PRICING_API_URL = "https://api.pricing.us-east-1.amazonaws.com"
# The Pricing API filters on the region's long name, not its code.
REGION_LOCATIONS: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "ServiceUnavailable"}
_AWS_HINT = "check AWS credentials and the pricing:GetProducts / ec2:DescribeSpotPriceHistory permissions, then retry"
_SPOT_FIELDS = ("spot", "spot_source", "spot_as_of", "spot_basis")


def refresh_prices(
    home: Path,
    *,
    regions: Sequence[str] = (),
    types: Sequence[str] = (),
    path: Path | None = None,
    spot: bool = True,
    replace: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Ask AWS for prices (default: every region trainctl can refresh and every type of the catalog in force),
    write them to ``path`` (default the user catalog), merged over the catalog in force unless ``replace``;
    return a summary (path, as_of, regions, counts per kind, the figures AWS did not answer for).

    Raises CloudError, writing nothing, when AWS answered with no instance price at all.
    """
    from orchestrator.cloud import aws

    path = path or home / USER_CATALOG
    current = catalog_in_force(home)[0]
    chosen = list(regions) or [r for r in current.regions() if r in REGION_LOCATIONS]
    wanted = list(types) or sorted({t for r in current.regions() for t in current.instance_types(r)})
    requests = len(wanted) * len(chosen)
    say(f"asking AWS for {len(wanted)} instance type(s) in {', '.join(chosen)} (about {requests} Pricing API requests)")
    pricing = aws.client("pricing", region="us-east-1")
    ec2 = {r: aws.client("ec2", region=r) if spot else _NoSpotHistory() for r in chosen}
    fresh = refresh_catalog(pricing, ec2, chosen, wanted)
    if not any(p.get("instances") for p in fresh["regions"].values()):
        raise CloudError(
            "the AWS Pricing API answered with no instance price: the catalog was not written",
            details=[f"{m['region']} {m['item']} {m['kind']}: {m['reason']}" for m in fresh["missing"][:10]],
            hint="check the --type and --region values and the pricing:GetProducts permission",
        )
    document = fresh if replace else merge_catalogs(_stored_document(home / USER_CATALOG), fresh)
    write_catalog(document, path)
    return _summary(fresh, path)


def merge_catalogs(old: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """``fresh`` figures over ``old`` ones; old figures AWS did not answer for are kept with their own source and date."""
    merged = copy.deepcopy(old)
    merged["as_of"], merged["missing"] = fresh["as_of"], fresh["missing"]
    merged["sources"] = {**old.get("sources", {}), **fresh["sources"]}
    regions = merged.setdefault("regions", {})
    for region, prices in fresh["regions"].items():
        target = regions.setdefault(region, {})
        instances = target.setdefault("instances", {})
        for item, entry in prices.get("instances", {}).items():
            before = instances.get(item, {})
            if "spot" in before and "spot" not in entry:  # pin the kept spot figure to its own source and date
                before = before | {"spot_source": before.get("spot_source") or before.get("source")}
                before["spot_as_of"] = before.get("spot_as_of") or before.get("as_of")
                entry = entry | {k: before[k] for k in _SPOT_FIELDS if k in before}
            instances[item] = entry
        if "storage" in prices:
            target["storage"] = {**target.get("storage", {}), **prices["storage"]}
    return merged


_LINUX_SHARED = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
_STORAGE_QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "gp3": ("AmazonEC2", {"productFamily": "Storage", "volumeApiName": "gp3"}),
    "s3_standard": ("AmazonS3", {"storageClass": "General Purpose", "volumeType": "Standard"}),
}


def refresh_catalog(
    pricing_client: Any,
    ec2_clients_by_region: Mapping[str, Any],
    regions: Sequence[str],
    instance_types: Sequence[str],
    *,
    now: dt.datetime | None = None,
    spot_lookback: dt.timedelta = dt.timedelta(days=1),
) -> dict[str, Any]:
    """A new catalog document from AWS, through a boto3 ``pricing`` client and ``ec2`` clients per region.

    On-demand, gp3 and S3 Standard prices come from the Pricing API; spot is the median of the last
    ``spot_lookback`` of spot price history. A figure AWS does not answer with exactly one price is left out
    and listed under ``missing``: none is guessed."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.date().isoformat()
    spot_notes = f"median of Linux/UNIX spot prices in all availability zones over the {spot_lookback} before retrieval"
    sources = {
        PRICING_API_SOURCE: {"title": "AWS Pricing API", "url": PRICING_API_URL, "retrieved": today},
        SPOT_HISTORY_SOURCE: {"title": "EC2 spot price history", "retrieved": today, "notes": spot_notes},
    }
    missing: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for region in regions:
        location = REGION_LOCATIONS.get(region)
        if location is None:
            hint = f"regions trainctl can refresh: {', '.join(REGION_LOCATIONS)}"
            raise InvalidInputError(f"cannot refresh region {region!r}: its Pricing API location is unknown", hint=hint)
        if region not in ec2_clients_by_region:
            raise InternalError(f"refresh_catalog was given no EC2 client for region {region!r}")
        spot = _median_spot_prices(ec2_clients_by_region[region], instance_types, now - spot_lookback, now)
        instances: dict[str, Any] = {}
        for instance_type in instance_types:
            filters = {"instanceType": instance_type, "location": location, **_LINUX_SHARED}
            usd, problem = _one_price(_products(pricing_client, "AmazonEC2", filters), "Hrs")
            if usd is None:
                missing.append({"region": region, "item": instance_type, "kind": "on_demand", "reason": problem})
                continue
            instances[instance_type] = {"on_demand": usd, "source": PRICING_API_SOURCE, "as_of": today}
            if instance_type not in spot:
                missing.append({"region": region, "item": instance_type, "kind": "spot", "reason": "no spot price history"})
                continue
            median, samples = spot[instance_type]
            instances[instance_type] |= {"spot": median, "spot_source": SPOT_HISTORY_SOURCE, "spot_as_of": today}
            instances[instance_type]["spot_basis"] = f"median of {samples} spot prices"
        out[region] = {"instances": instances}
        storage: dict[str, Any] = {}
        for kind, (service, query) in _STORAGE_QUERIES.items():
            products = _products(pricing_client, service, {**query, "location": location})
            usd, problem = _one_price(products, "GB-Mo", first_tier=True)
            if usd is None:
                missing.append({"region": region, "item": kind, "kind": kind, "reason": problem})
            else:
                storage |= {f"{kind}_gb_month": usd, f"{kind}_source": PRICING_API_SOURCE, f"{kind}_as_of": today}
        if storage:
            out[region]["storage"] = storage
    return {"schema_version": 1, "currency": "USD", "as_of": today, "sources": sources, "regions": out, "missing": missing}


def _products(client: Any, service: str, filters: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
    """Every product ``get_products`` returns for ``filters`` (PriceList items are JSON strings)."""
    terms = [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters.items()]
    request = {"ServiceCode": service, "Filters": terms, "FormatVersion": "aws_v1", "MaxResults": 100}
    for page in _pages(f"AWS Pricing API get_products ({service})", client.get_products, request):
        for item in page.get("PriceList", []):
            try:
                yield json.loads(item) if isinstance(item, str) else item
            except json.JSONDecodeError as e:
                raise CloudError(f"the AWS Pricing API returned an unreadable price item: {e.msg}") from e


def _one_price(products: Iterator[Mapping[str, Any]], unit: str, *, first_tier: bool = False) -> tuple[float | None, str]:
    """The single positive USD price per ``unit`` in terms.OnDemand.*.priceDimensions.*, or (None, why not)."""
    prices: set[float] = set()
    for product in products:
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                tier_ok = not first_tier or str(dim.get("beginRange", "0")) == "0"
                if dim.get("unit") == unit and tier_ok and float(dim.get("pricePerUnit", {}).get("USD", "0")) > 0:
                    prices.add(float(dim["pricePerUnit"]["USD"]))
    if len(prices) == 1:
        return prices.pop(), ""
    return None, f"the Pricing API returned {len(prices)} matching prices: {sorted(prices)}"


def _median_spot_prices(client: Any, types: Sequence[str], start: dt.datetime, end: dt.datetime) -> dict[str, tuple[float, int]]:
    """instance type -> (median spot price, number of samples), over every availability zone."""
    request = {"InstanceTypes": list(types), "ProductDescriptions": ["Linux/UNIX"], "StartTime": start, "EndTime": end}
    samples: dict[str, list[float]] = {}
    for page in _pages("EC2 describe_spot_price_history", client.describe_spot_price_history, request):
        for record in page.get("SpotPriceHistory", []):
            samples.setdefault(record["InstanceType"], []).append(float(record["SpotPrice"]))
    return {t: (round(statistics.median(v), 6), len(v)) for t, v in samples.items()}


def _pages(what: str, method: Callable[..., Mapping[str, Any]], request: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Each page of a paginated AWS call, following NextToken; client errors become trainctl errors here."""
    token: str | None = None
    while True:
        try:
            page = method(**request, **({"NextToken": token} if token else {}))
        except Exception as e:  # botocore is not imported here: any client failure is translated at this seam
            code = str(getattr(e, "response", {}).get("Error", {}).get("Code", "")) or type(e).__name__
            cls = TransientCloudError if code in _THROTTLED else CloudError
            raise cls(f"{what} failed: {e}", context={"error_code": code}, hint=_AWS_HINT) from e
        yield page
        token = page.get("NextToken")
        if not token:
            return


class _NoSpotHistory:
    """Stands in for EC2 without spot (``--no-spot``): no spot price history, so no spot figure is replaced."""

    def describe_spot_price_history(self, **_: Any) -> dict[str, Any]:
        return {"SpotPriceHistory": []}


def _stored_document(user_catalog: Path) -> dict[str, Any]:
    """The catalog in force as stored (unknown fields kept), to merge a refresh into."""
    if user_catalog.is_file():
        text = user_catalog.read_text(encoding="utf-8")
    else:
        from importlib import resources

        text = resources.files("orchestrator").joinpath(PACKAGED_RESOURCE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _summary(fresh: dict[str, Any], path: Path) -> dict[str, Any]:
    instances = [e for p in fresh["regions"].values() for e in p.get("instances", {}).values()]
    storage = sum(1 for p in fresh["regions"].values() for k in p.get("storage", {}) if k.endswith("_gb_month"))
    counts = {"on_demand": len(instances), "spot": sum(1 for e in instances if "spot" in e), "storage": storage}
    return {
        "path": str(path),
        "as_of": fresh["as_of"],
        "regions": sorted(fresh["regions"]),
        "prices": counts,
        "missing": fresh["missing"],
    }
