"""`trainctl prices`: show the price catalog in force, and refresh it from the AWS Pricing API."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import emit, output_option, say

SHOW_COLUMNS = (
    ("REGION", "region"),
    ("ITEM", "item"),
    ("KIND", "kind"),
    ("USD", "usd"),
    ("UNIT", "unit"),
    ("SOURCE", "source"),
    ("AS OF", "as_of"),
)


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
    from orchestrator.cli.render import table
    from orchestrator.cost.catalog import catalog_in_force, load_catalog, price_rows
    from orchestrator.settings import get_settings

    if catalog_file is not None:
        catalog, origin = load_catalog(catalog_file), str(catalog_file)
    else:
        catalog, origin = catalog_in_force(get_settings().home)
    rows = price_rows(catalog, region=region, instance_type=instance_type)

    def text() -> None:
        say(f"catalog: {origin} (assembled {catalog.as_of.isoformat()}; prices in {catalog.currency})")
        table(rows, SHOW_COLUMNS)

    emit({"catalog": origin, "as_of": catalog.as_of.isoformat(), "currency": catalog.currency, "entries": rows}, text)


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
    from orchestrator.cost.refresh import refresh_prices
    from orchestrator.settings import get_settings

    home = get_settings().home
    summary = refresh_prices(home, regions=regions, types=types, path=path, spot=not no_spot, replace=replace, say=say)

    def text() -> None:
        counts = summary["prices"]
        say(
            f"wrote {summary['path']}: {counts['on_demand']} on-demand, {counts['spot']} spot and {counts['storage']} "
            "storage price(s) from AWS"
        )
        if summary["missing"]:
            kept = "" if replace else " (earlier figures kept)"
            say(f"{len(summary['missing'])} figure(s) AWS did not answer with one price{kept}:")
            for m in summary["missing"][:20]:
                say(f"  {m['region']} {m['item']} {m['kind']}: {m['reason']}")

    emit(summary, text)
