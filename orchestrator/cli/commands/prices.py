"""`trainctl prices`: show the price catalog in force, and refresh it from the AWS Pricing API."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator.cli.output import emit_json, is_json, output_option, say

if TYPE_CHECKING:
    from orchestrator.cost.catalog import Catalog

SHOW_COLUMNS = (
    ("REGION", "region"),
    ("ITEM", "item"),
    ("KIND", "kind"),
    ("USD", "usd"),
    ("UNIT", "unit"),
    ("SOURCE", "source"),
    ("AS OF", "as_of"),
)
_SPOT_FIELDS = ("spot", "spot_source", "spot_as_of", "spot_basis")


@click.group("prices")
def command() -> None:
    """Inspect and refresh the price catalog (user catalog $TRAINCTL_HOME/prices.json, else the packaged one)."""


@command.command("show")
@click.option("--region", help="Only this region.")
@click.option("--type", "instance_type", help="Only this instance type (g5.xlarge) or family (g5).")
@click.option("--catalog", "catalog_file", type=click.Path(dir_okay=False, path_type=Path), help="Read this catalog file.")
@output_option
def show(region: str | None, instance_type: str | None, catalog_file: Path | None, output: str) -> None:
    """Print catalog prices, each with its source and the date it was true."""
    from orchestrator.cost.catalog import catalog_in_force, load_catalog
    from orchestrator.settings import get_settings

    if catalog_file is not None:
        catalog, origin = load_catalog(catalog_file), str(catalog_file)
    else:
        catalog, origin = catalog_in_force(get_settings().home)
    rows = price_rows(catalog, region=region, instance_type=instance_type)
    if is_json():
        emit_json({"catalog": origin, "as_of": catalog.as_of.isoformat(), "currency": catalog.currency, "entries": rows})
        return
    from orchestrator.cli.render import table

    say(f"catalog: {origin} (assembled {catalog.as_of.isoformat()}; prices in {catalog.currency})")
    table(rows, SHOW_COLUMNS)


@command.command("refresh")
@click.option(
    "--region", "regions", multiple=True, help="Region to refresh (repeatable); default: those of the catalog in force."
)
@click.option("--type", "types", multiple=True, help="Instance type to refresh (repeatable); default: every type in the catalog.")
@click.option(
    "--file", "path", type=click.Path(dir_okay=False, path_type=Path), help="Where to write; default $TRAINCTL_HOME/prices.json."
)
@click.option("--no-spot", is_flag=True, help="Skip EC2 spot price history (keep the spot figures already known).")
@click.option("--replace", is_flag=True, help="Write only what AWS answered (default: merge it over the catalog in force).")
@output_option
def refresh(
    regions: tuple[str, ...], types: tuple[str, ...], path: Path | None, no_spot: bool, replace: bool, output: str
) -> None:
    """Rebuild prices from the AWS Pricing API (us-east-1 endpoint) and EC2 spot price history; needs AWS credentials."""
    from orchestrator.cloud import aws
    from orchestrator.cost.catalog import REGION_LOCATIONS, USER_CATALOG, catalog_in_force, refresh_catalog, write_catalog
    from orchestrator.errors import CloudError
    from orchestrator.settings import get_settings

    home = get_settings().home
    path = path or home / USER_CATALOG
    current = catalog_in_force(home)[0]
    chosen = list(regions) or [r for r in current.regions() if r in REGION_LOCATIONS]
    wanted = list(types) or sorted({t for r in current.regions() for t in current.instance_types(r)})
    requests = len(wanted) * len(chosen)
    say(f"asking AWS for {len(wanted)} instance type(s) in {', '.join(chosen)} (about {requests} Pricing API requests)")
    pricing = aws.client("pricing", region="us-east-1")
    ec2 = {r: _NoSpotHistory() if no_spot else aws.client("ec2", region=r) for r in chosen}
    fresh = refresh_catalog(pricing, ec2, chosen, wanted)
    if not any(p.get("instances") for p in fresh["regions"].values()):
        raise CloudError(
            "the AWS Pricing API answered with no instance price: the catalog was not written",
            details=[f"{m['region']} {m['item']} {m['kind']}: {m['reason']}" for m in fresh["missing"][:10]],
            hint="check the --type and --region values and the pricing:GetProducts permission",
        )
    document = fresh if replace else merge_catalogs(_raw_document(home / USER_CATALOG), fresh)
    write_catalog(document, path)
    summary = _summary(fresh, path)
    if is_json():
        emit_json(summary)
        return
    counts = summary["prices"]
    say(f"wrote {path}: {counts['on_demand']} on-demand, {counts['spot']} spot and {counts['storage']} storage price(s) from AWS")
    if summary["missing"]:
        kept = "" if replace else " (earlier figures kept)"
        say(f"{len(summary['missing'])} figure(s) AWS did not answer with one price{kept}:")
        for m in summary["missing"][:20]:
            say(f"  {m['region']} {m['item']} {m['kind']}: {m['reason']}")


def price_rows(catalog: Catalog, *, region: str | None = None, instance_type: str | None = None) -> list[dict[str, Any]]:
    """One row per priced figure: region, item, kind, usd, unit, source (key, title, url), as_of."""
    from orchestrator.errors import PriceNotFoundError

    regions = catalog.regions()
    if region is not None and region not in regions:
        raise PriceNotFoundError(f"no prices for region {region!r} in the catalog", hint=f"known regions: {', '.join(regions)}")
    rows: list[dict[str, Any]] = []
    for name in [region] if region else regions:
        prices = catalog.document.regions[name]
        for item in catalog.instance_types(name):
            if instance_type and instance_type not in (item, item.split(".", 1)[0]):
                continue
            rows.extend(
                _row(catalog, name, item, kind, "hour", prices.instances[item].figure(kind)) for kind in ("on_demand", "spot")
            )
        if prices.storage is not None and not instance_type:
            rows.extend(
                _row(catalog, name, kind, kind, "GB-month", prices.storage.figure(kind)) for kind in ("gp3", "s3_standard")
            )
    rows = [r for r in rows if r["usd"] is not None]
    if not rows:
        hint = "`trainctl prices show` lists everything priced; or refresh the catalog: `trainctl prices refresh --type T`"
        raise PriceNotFoundError(f"no prices for {instance_type or 'anything'} in {region or 'any region'}", hint=hint)
    return rows


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


class _NoSpotHistory:
    """Stands in for EC2 with --no-spot: no spot price history, so no spot figure is replaced."""

    def describe_spot_price_history(self, **_: Any) -> dict[str, Any]:
        return {"SpotPriceHistory": []}


def _row(catalog: Catalog, region: str, item: str, kind: str, unit: str, figure: tuple[Any, ...]) -> dict[str, Any]:
    usd, source, as_of = figure
    info = catalog.document.sources.get(source) if source else None
    return {
        "region": region,
        "item": item,
        "kind": kind,
        "usd": usd,
        "unit": unit,
        "source": source,
        "source_title": info.title if info else None,
        "source_url": info.url if info else None,
        "as_of": as_of.isoformat() if as_of else None,
    }


def _raw_document(user_catalog: Path) -> dict[str, Any]:
    """The catalog in force as stored (unknown fields kept), to merge a refresh into."""
    if user_catalog.is_file():
        text = user_catalog.read_text(encoding="utf-8")
    else:
        from importlib import resources

        from orchestrator.cost.catalog import PACKAGED_RESOURCE

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
