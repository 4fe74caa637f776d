"""The price catalog: instance-hour and storage prices per region, each figure with its source and date.

The packaged catalog (``orchestrator/data/prices.json``, described in docs/prices.md) never answers with a
default: a missing price is a PriceNotFoundError naming what was asked and what is known nearby.
:func:`write_catalog` stores a catalog atomically; orchestrator/cost/refresh.py rebuilds one from AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.errors import InternalError, InvalidInputError, PriceNotFoundError

StorageKind = Literal["gp3", "s3_standard"]

PACKAGED_RESOURCE = "data/prices.json"
_SIZES = {"nano": 0, "micro": 1, "small": 2, "medium": 3, "large": 4, "xlarge": 5}


class _Stored(BaseModel):  # stored records are read leniently: unknown fields are ignored
    model_config = ConfigDict(extra="ignore", frozen=True)


class SourceInfo(_Stored):  # where figures were copied from
    title: str = Field(min_length=1)
    url: str | None = None
    published: dt.date | None = None
    retrieved: dt.date | None = None
    notes: str | None = None


class _Entry(_Stored):
    """Priced figures of one item; a figure's ``<kind>_source``/``<kind>_as_of`` override ``source``/``as_of``."""

    VALUE: ClassVar[str] = "{}"
    source: str | None = None
    as_of: dt.date | None = None

    def figure(self, kind: str) -> tuple[float | None, str | None, dt.date | None]:
        """(usd, source, as_of) of the ``kind`` figure; usd is None when the entry has none."""
        source, as_of = getattr(self, f"{kind}_source", None), getattr(self, f"{kind}_as_of", None)
        return getattr(self, self.VALUE.format(kind), None), source or self.source, as_of or self.as_of


class InstancePrices(_Entry):
    on_demand: float = Field(gt=0, allow_inf_nan=False)
    source: str
    as_of: dt.date
    spot: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    spot_source: str | None = None
    spot_as_of: dt.date | None = None
    spot_basis: str | None = None


class StoragePrices(_Entry):
    VALUE: ClassVar[str] = "{}_gb_month"
    gp3_gb_month: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    gp3_source: str | None = None
    gp3_as_of: dt.date | None = None
    s3_standard_gb_month: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    s3_standard_source: str | None = None
    s3_standard_as_of: dt.date | None = None


class RegionPrices(_Stored):
    instances: dict[str, InstancePrices] = Field(default_factory=dict)
    storage: StoragePrices | None = None

    def figures(self) -> Iterator[tuple[str, tuple[float | None, str | None, dt.date | None]]]:
        for name, entry in self.instances.items():
            yield from ((f"{name} {kind}", entry.figure(kind)) for kind in ("on_demand", "spot"))
        if self.storage is not None:
            yield from ((kind, self.storage.figure(kind)) for kind in ("gp3", "s3_standard"))


class CatalogDocument(_Stored):
    """The whole catalog file; every figure must cite a source listed in ``sources`` and carry a date."""

    currency: Literal["USD"] = "USD"
    as_of: dt.date
    sources: dict[str, SourceInfo]
    regions: dict[str, RegionPrices]

    @model_validator(mode="after")
    def _every_figure_is_sourced(self) -> CatalogDocument:
        for region, prices in self.regions.items():
            for what, (usd, source, as_of) in prices.figures():
                if usd is not None and (source not in self.sources or as_of is None):
                    raise ValueError(f"{region} {what}: needs a source listed in sources (got {source!r}) and an as_of date")
        return self


@dataclass(frozen=True)
class Price:
    """One looked-up figure: ``kind`` is on_demand, spot, gp3 or s3_standard; ``source`` is the source's title."""

    usd: float
    kind: str
    unit: str
    region: str
    item: str
    source: str
    source_url: str | None
    as_of: dt.date


@dataclass(frozen=True)
class Catalog:
    """Read-only view of a validated catalog document."""

    document: CatalogDocument

    @classmethod
    def from_document(cls, raw: Mapping[str, Any], *, origin: str = "price catalog") -> Catalog:
        """Validate ``raw``; an invalid document is an InvalidInputError listing each problem."""
        try:
            return cls(CatalogDocument.model_validate(raw))
        except ValidationError as e:
            details = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()]
            hint = "fix the file, or delete it to use the catalog packaged with trainctl"
            raise InvalidInputError(f"{origin} is not a valid price catalog", details=details, hint=hint) from e

    @property
    def as_of(self) -> dt.date:
        """The day the catalog was assembled; each figure carries its own (older or equal) date."""
        return self.document.as_of

    @property
    def currency(self) -> str:
        return self.document.currency

    def regions(self) -> list[str]:
        return sorted(self.document.regions)

    def instance_types(self, region: str) -> list[str]:
        """Priced instance types in ``region``, by family then size."""
        return sorted(self._region(region).instances, key=_type_order)

    def hourly(self, region: str, instance_type: str, *, spot: bool) -> Price:
        """USD per instance-hour; PriceNotFoundError for an unknown region or type, or a missing spot figure."""
        entry = self._region(region).instances.get(instance_type)
        context = {"region": region, "instance_type": instance_type}
        if entry is None:
            message = f"no price for instance type {instance_type!r} in region {region!r}"
            raise PriceNotFoundError(message, hint=self._nearby(region, instance_type), context=context)
        kind = "spot" if spot else "on_demand"
        usd, source, as_of = entry.figure(kind)
        if usd is None or source is None or as_of is None:
            raise PriceNotFoundError(
                f"no spot price for instance type {instance_type!r} in region {region!r} (only its on-demand price is known)",
                hint="set resources.spot: false, or refresh the catalog from EC2 spot price history",
                context=context | {"purchase_option": "spot"},
            )
        return self._price(usd, kind, "hour", region, instance_type, source, as_of)

    def storage_gb_month(self, region: str, kind: StorageKind) -> Price:
        """USD per GB-month of ``kind`` storage in ``region``."""
        storage = self._region(region).storage
        usd, source, as_of = storage.figure(kind) if storage else (None, None, None)
        if usd is None or source is None or as_of is None:
            known = [r for r, p in sorted(self.document.regions.items()) if p.storage and p.storage.figure(kind)[0]]
            raise PriceNotFoundError(
                f"no {kind} storage price for region {region!r}",
                hint=f"regions with a {kind} price: {', '.join(known) or 'none'}; or refresh the catalog from AWS",
                context={"region": region, "storage": kind},
            )
        return self._price(usd, kind, "GB-month", region, "EBS gp3" if kind == "gp3" else "S3 Standard", source, as_of)

    def _region(self, region: str) -> RegionPrices:
        prices = self.document.regions.get(region)
        if prices is None:
            raise PriceNotFoundError(
                f"no prices for region {region!r} in the price catalog",
                hint=f"known regions: {', '.join(self.regions())}; set resources.region to one of them or refresh the catalog",
                context={"region": region},
            )
        return prices

    def _nearby(self, region: str, instance_type: str) -> str:
        family = instance_type.split(".", 1)[0]
        known = self.instance_types(region)
        same = [t for t in known if t.split(".", 1)[0] == family]
        if same:
            hint = f"{family} sizes priced in {region}: {', '.join(same)}"
        else:
            hint = f"families priced in {region}: {', '.join(sorted({t.split('.', 1)[0] for t in known}))}"
        elsewhere = [r for r in self.regions() if r != region and instance_type in self.document.regions[r].instances]
        if elsewhere:
            hint += f"; {instance_type} is priced in {', '.join(elsewhere)}"
        return hint + "; or refresh the catalog from the AWS Pricing API"

    def _price(self, usd: float, kind: str, unit: str, region: str, item: str, source: str, as_of: dt.date) -> Price:
        info = self.document.sources[source]
        return Price(usd, kind, unit, region, item, info.title, info.url, as_of)


def _type_order(instance_type: str) -> tuple[str, int, str]:
    family, _, size = instance_type.partition(".")
    count = size.removesuffix("xlarge")
    rank = _SIZES.get(size, _SIZES["xlarge"] + int(count) if count.isdigit() else 10_000)  # metal sizes last
    return family, rank, size


USER_CATALOG = "prices.json"


def catalog_in_force(home: Path) -> tuple[Catalog, str]:
    """``$TRAINCTL_HOME/prices.json`` when `prices refresh` wrote one, else the packaged catalog; and which."""
    path = home / USER_CATALOG
    if path.is_file():
        return load_catalog(path), str(path)
    return load_catalog(), "the catalog packaged with trainctl"


def current_catalog() -> Catalog:
    """The catalog in force for the settings' TRAINCTL_HOME (what plan, up, reports and policies price with)."""
    from orchestrator.settings import get_settings

    return catalog_in_force(get_settings().home)[0]


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at ``path``, or the one packaged with trainctl (read once, then cached)."""
    if path is None:
        return _packaged_catalog()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        hint = "check the path, or omit it to use the packaged catalog"
        raise InvalidInputError(f"cannot read price catalog {path}: {e.strerror}", hint=hint) from e
    return _parse(text, origin=f"price catalog {path}")


@lru_cache(maxsize=1)
def _packaged_catalog() -> Catalog:
    text = resources.files("orchestrator").joinpath(PACKAGED_RESOURCE).read_text(encoding="utf-8")
    try:
        return _parse(text, origin="the packaged price catalog")
    except InvalidInputError as e:
        raise InternalError(e.message, details=e.details, hint="the package data is broken: reinstall trainctl") from e


def _parse(text: str, *, origin: str) -> Catalog:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"{origin} is not JSON: {e.msg} at line {e.lineno}") from e
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{origin} must be a JSON object")
    return Catalog.from_document(raw, origin=origin)


def write_catalog(doc: Mapping[str, Any], path: Path) -> None:
    """Validate ``doc`` and write it to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    Catalog.from_document(doc, origin=f"the catalog to write to {path}")
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
            tmp = Path(f.name)
            f.write(json.dumps(doc, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as e:
        raise InvalidInputError(
            f"cannot write price catalog {path}: {e.strerror}", hint="check the directory's permissions"
        ) from e
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # only left behind when the rename did not happen


def price_rows(catalog: Catalog, *, region: str | None = None, instance_type: str | None = None) -> list[dict[str, Any]]:
    """One row per priced figure: region, item, kind, usd, unit, source (key, title, url), as_of."""
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
