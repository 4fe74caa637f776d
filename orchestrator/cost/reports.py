"""Cost reports from the job records: what each team, owner, target or resource type spent, and when.

A job's cost is its recorded final cost (``cost_usd``, written at teardown) or, while it has not ended, the
cost accrued so far. That figure is the compute: ``--by resource-type`` adds each AWS job's gp3 disk, priced
from the catalog over the job's runtime. Costs are attributed to the UTC days a job ran, prorated by
seconds, so a window (``--since``/``--until``) takes exactly the share of each job that fell inside it and
the chart over time is honest.

Records are read with a fast path (the few fields a report needs, cached per record version), not through
``JobRecord``: validating 10,000 records with pydantic alone takes about a second. Each field reads as
``JobRecord`` reads it (tests/cost/test_record_reader.py compares them field by field).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from orchestrator.cost.window import DAY_S, Window
from orchestrator.errors import InvalidInputError, PriceNotFoundError
from orchestrator.vocabulary import JobState

if TYPE_CHECKING:
    from orchestrator.cost.catalog import Catalog
    from orchestrator.jobs.index import Ledger
    from orchestrator.settings import Settings

GROUPINGS = ("job", "team", "owner", "target", "resource-type", "sweep")
NO_SWEEP = "-"  # the group of the jobs that no sweep launched (``--by sweep``)
CACHE_FILE = "cache/cost-records.json"
READER_VERSION = 3  # how fields are read (2: region as JobRecord decides it; 3: sweep id); another version's cache is rebuilt
_EPOCH = dt.date(1970, 1, 1)
_DECIMALS = 6


class CostRecord(NamedTuple):
    """The fields of a job record that cost reports read (a tuple: 10,000 are built in milliseconds);
    ``instance_type`` is the stored spec's ``resources`` field, ``disk_gb`` its ``disk_gb`` times its
    ``nodes`` (every node of a multi-node job has its own disk)."""

    job_id: str
    name: str
    team: str
    owner: str
    target: str
    state: str
    created: float
    started_at: float | None
    ended_at: float | None
    hourly_usd: float
    cost_usd: float | None
    instance_type: str | None
    disk_gb: float
    region: str | None
    past_runs: tuple[tuple[float, float, float], ...] = ()  # earlier runs: (started, ended, hourly_usd)
    sweep_id: str | None = None  # the sweep that launched the job (``JobRecord.sweep``)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> CostRecord:
        """From a stored record; KeyError/TypeError/ValueError when a required field is missing or mistyped."""
        spec = doc.get("spec") or {}
        resources = (spec.get("resources") or {}) if isinstance(spec, dict) else {}
        return cls(
            job_id=_text(doc["job_id"]),
            name=_text(doc["name"]),
            team=_text(doc["team"]),
            owner=_text(doc["owner"]),
            target=_text(doc["target"]),
            state=str(doc.get("state") or JobState.PROVISIONING.value),
            created=_number(doc["created"]),
            started_at=_maybe(doc.get("started_at")),
            ended_at=_maybe(doc.get("ended_at")),
            hourly_usd=_maybe(doc.get("hourly_usd")) or 0.0,
            cost_usd=_maybe(doc.get("cost_usd")),
            instance_type=resources.get("instance_type") if isinstance(resources.get("instance_type"), str) else None,
            disk_gb=(_maybe(resources.get("disk_gb")) or 0.0) * _nodes(resources),
            region=_region(doc),
            past_runs=tuple((_number(a), _number(b), _number(c)) for a, b, c in doc.get("past_runs") or ()),
            sweep_id=_sweep_id(doc),
        )

    def runs(self, now: float) -> list[tuple[float, float, float]]:
        """Every run that started, as (started, ended or ``now``, hourly_usd), oldest first."""
        runs = [(float(a), float(b), float(c)) for a, b, c in self.past_runs]
        if self.started_at is not None:
            end = self.ended_at if self.ended_at is not None else now
            runs.append((self.started_at, max(self.started_at, end), self.hourly_usd))
        return runs

    def interval(self, now: float) -> tuple[float, float]:
        """From the first run's start to the last run's end; a job that never started is the instant it was created."""
        runs = self.runs(now)
        if not runs:
            return self.created, self.created
        return runs[0][0], runs[-1][1]

    def cost(self, now: float) -> float:
        """The recorded final cost, else the compute cost accrued by ``now``."""
        if self.cost_usd is not None:
            return self.cost_usd
        return sum(usd for _, _, usd in self.run_costs(now))

    def run_costs(self, now: float) -> list[tuple[float, float, float]]:
        """(started, ended, USD) of each run; a recorded final cost is shared out in proportion to the runs' costs."""
        runs_so_far = self.runs(now)
        if self.cost_usd is not None and len(runs_so_far) == 1:  # the common case: one run, its cost recorded
            return [(runs_so_far[0][0], runs_so_far[0][1], self.cost_usd)]
        from orchestrator.cost.accrual import run_cost

        runs = [(start, end, run_cost(self.target, hourly, end - start)) for start, end, hourly in runs_so_far]
        if self.cost_usd is None or not runs:
            return runs
        computed = sum(usd for _, _, usd in runs)
        if computed <= 0:
            return [*((a, b, 0.0) for a, b, _ in runs[:-1]), (runs[-1][0], runs[-1][1], self.cost_usd)]
        return [(a, b, usd * self.cost_usd / computed) for a, b, usd in runs]


@dataclass
class GroupCost:
    """One row of a report: ``days`` maps ISO dates to the USD attributed to that day."""

    group: str
    cost_usd: float = 0.0
    jobs: int = 0
    days: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "cost_usd": round(self.cost_usd, _DECIMALS), "jobs": self.jobs}


@dataclass
class Report:
    """Estimated cost per group over a window (``estimate`` False: actual costs from Cost Explorer)."""

    by: str
    window: Window
    groups: list[GroupCost]
    jobs: int
    days: list[str]
    notices: list[str] = field(default_factory=list)
    estimate: bool = True
    currency: str = "USD"

    @property
    def total_usd(self) -> float:
        return sum(g.cost_usd for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "groups": [g.to_dict() for g in self.groups],
            "total_usd": round(self.total_usd, _DECIMALS),
            **self.window.to_dict(),
            "currency": self.currency,
            "estimate": self.estimate,
            "notices": self.notices,
        }


@dataclass(slots=True)
class Piece:
    """The part of one job's cost inside the window: its compute, or its storage."""

    record: CostRecord
    kind: str  # "compute" | "storage"
    item: str  # the instance type, the target for non-AWS compute, or "gp3"
    usd: float
    days: list[tuple[int, float]]


def cost_report(
    settings: Settings, *, by: str = "job", job: str | None = None, window: Window | None = None, now: float | None = None
) -> Report:
    """The estimated cost report ``trainctl cost`` prints (default window: every job, until ``now``)."""
    if by not in GROUPINGS:
        raise InvalidInputError(f"unknown grouping {by!r}", hint=f"--by takes one of: {', '.join(GROUPINGS)}")
    now = time.time() if now is None else now
    window = window or Window(None, now)
    records = select_records(settings, job)
    storage = StoragePricer(settings) if by == "resource-type" else None
    report = build_report(pieces(records, window, now, storage), by, window)
    if storage is not None:
        report.notices.extend(storage.notices())
        report.notices.append("storage is not part of a job's recorded cost: only --by resource-type adds it")
    return report


def select_records(settings: Settings, job: str | None) -> list[CostRecord]:
    """Every job record of the backend in force (fast path), or only ``job`` (an id, or a name for its newest job)."""
    from orchestrator.jobs.index import Ledger

    ledger = Ledger.of(settings)
    if job is None:
        return read_records(ledger, settings.home)
    return [CostRecord.from_document(ledger.resolve(job).model_dump())]


def read_records(ledger: Ledger, home: Path) -> list[CostRecord]:
    """Every readable record of the job index; unreadable or incomplete ones are skipped, as the Ledger does.

    The fields of each record are cached in ``home/cache/cost-records.json`` under its key and version in
    the index (a record is replaced whole, with a new version), so unchanged records are neither fetched
    nor parsed again. The cache is only an index: missing, unreadable, from another version or another
    backend, it is rebuilt."""
    listing = ledger.listing()
    cache_path = home / CACHE_FILE
    cached = _load_cache(cache_path, ledger.store.location)
    stale = [info for info in listing if not _current(cached.get(info.key), info.version)]
    fetched = ledger.fetch(stale) if stale else {}
    fresh: dict[str, list[Any]] = {}
    for info in listing:
        hit = cached.get(info.key)
        if _current(hit, info.version):
            fresh[info.key] = hit  # type: ignore[assignment]
        elif info.key in fetched:
            fresh[info.key] = [info.version, _parse(fetched[info.key])]
    if fresh != cached:
        _store_cache(cache_path, ledger.store.location, fresh)
    return [CostRecord(*fields) for _, fields in fresh.values() if fields is not None]


def _current(hit: Any, version: str) -> bool:
    return isinstance(hit, list) and hit[:1] == [version]


def pieces(records: Iterable[CostRecord], window: Window, now: float, storage: StoragePricer | None = None) -> Iterator[Piece]:
    """Each job's compute inside the window (a zero piece for a job in it that cost nothing) and, with
    ``storage``, its priced gp3 disk over the same runtime."""
    lo = -math.inf if window.start is None else window.start
    hi = window.end
    for record in records:
        runs = record.run_costs(now) or [(record.created, record.created, record.cost(now))]
        if not any(start < hi and end > lo if end > start else lo <= start < hi for start, end, _ in runs):
            continue  # not in the window
        item = "local" if record.target == "local" else record.instance_type or record.target
        days = [day for start, end, usd in runs for day in spread(start, end, usd, lo, hi)]
        yield Piece(record, "compute", item, sum(usd for _, usd in days), days)
        if storage is None:
            continue
        stored = [(start, end, storage.cost(record, end - start)) for start, end, _ in runs if end > start]
        days = [day for start, end, usd in stored for day in spread(start, end, usd, lo, hi)]
        if any(usd for _, usd in days):
            yield Piece(record, "storage", "gp3", sum(u for _, u in days), days)


def spread(start: float, end: float, usd: float, lo: float, hi: float) -> list[tuple[int, float]]:
    """(UTC day number, USD) of ``usd`` spread evenly over [start, end] and clipped to [lo, hi)."""
    if usd == 0:
        return []
    if end <= start:
        return [(int(start // DAY_S), usd)] if lo <= start < hi else []
    a, b = max(start, lo), min(end, hi)
    rate = usd / (end - start)
    out: list[tuple[int, float]] = []
    day = int(a // DAY_S)
    while a < b:
        edge = min(b, (day + 1) * DAY_S)
        out.append((day, rate * (edge - a)))
        a, day = edge, day + 1
    return out


def build_report(parts: Iterable[Piece], by: str, window: Window) -> Report:
    """Sum ``parts`` into groups (largest first) with their per-day costs."""
    groups: dict[str, GroupCost] = {}
    members: dict[str, set[str]] = {}
    day_numbers: dict[str, dict[int, float]] = {}
    jobs: set[str] = set()
    first_day: int | None = None
    for piece in parts:
        name = _group_of(piece, by)
        group = groups.get(name)
        if group is None:
            group = groups[name] = GroupCost(name)
            members[name], day_numbers[name] = set(), {}
        group.cost_usd += piece.usd
        members[name].add(piece.record.job_id)
        jobs.add(piece.record.job_id)
        totals = day_numbers[name]
        for day, usd in piece.days:
            totals[day] = totals.get(day, 0.0) + usd
            first_day = day if first_day is None or day < first_day else first_day
    for name, group in groups.items():
        group.jobs = len(members[name])
        group.days = {day_iso(day): usd for day, usd in sorted(day_numbers[name].items())}
    ordered = sorted(groups.values(), key=lambda g: (-g.cost_usd, g.group))
    return Report(by=by, window=window, groups=ordered, jobs=len(jobs), days=window_days(window, first_day))


def window_days(window: Window, first_day: int | None) -> list[str]:
    """Every UTC day of the window (from the first costed day when it has no start), as ISO dates."""
    last = math.ceil(window.end / DAY_S) - 1
    first = int(window.start // DAY_S) if window.start is not None else first_day
    if first is None:
        return []
    return [day_iso(day) for day in range(first, last + 1)]


def _nodes(resources: Mapping[str, Any]) -> int:
    """``resources.nodes`` of a stored spec (1 when absent: a record written before multi-node jobs)."""
    value = resources.get("nodes")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


@lru_cache(maxsize=4096)
def day_iso(day: int) -> str:
    """The ISO date of UTC day number ``day`` (days since 1970-01-01)."""
    return (_EPOCH + dt.timedelta(days=day)).isoformat()


class StoragePricer:
    """gp3 storage cost of AWS jobs from the catalog in force; regions without a gp3 price are noted, not guessed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._catalog: Catalog | None = None
        self._prices: dict[str, float | None] = {}
        self.unpriced: dict[str, int] = {}

    def cost(self, record: CostRecord, seconds: float) -> float:
        region = record.region
        if record.target != "aws" or record.disk_gb <= 0 or region is None:
            return 0.0
        price = self._price(region)
        if price is None:
            self.unpriced[region] = self.unpriced.get(region, 0) + 1
            return 0.0
        from orchestrator.cost.billing import storage_cost

        return storage_cost(record.disk_gb, price, seconds)

    def notices(self) -> list[str]:
        return [
            f"storage of {n} job(s) in {r} is not counted: no gp3 price there in the catalog" for r, n in self.unpriced.items()
        ]

    def _price(self, region: str) -> float | None:
        if region not in self._prices:
            if self._catalog is None:
                from orchestrator.cost.catalog import catalog_in_force

                self._catalog = catalog_in_force(self._settings.home)[0]
            try:
                self._prices[region] = self._catalog.storage_gb_month(region, "gp3").usd
            except PriceNotFoundError:
                self._prices[region] = None
        return self._prices[region]


def _parse(data: bytes) -> list[Any] | None:
    """The CostRecord fields of one record (None: unreadable or incomplete)."""
    from pydantic_core import from_json  # pydantic's JSON parser: about twice as fast as json.loads here

    try:
        record = CostRecord.from_document(from_json(data))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return list(record)


def _load_cache(path: Path, location: str) -> dict[str, list[Any]]:
    from pydantic_core import from_json

    try:
        doc = from_json(path.read_bytes())
        same = (
            doc.get("fields") == list(CostRecord._fields) and doc.get("reader") == READER_VERSION and doc.get("index") == location
        )
        return dict(doc["entries"]) if same else {}  # else: written by another version
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _store_cache(path: Path, location: str, entries: dict[str, list[Any]]) -> None:
    """Write the cache atomically (temporary file per process, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(
            json.dumps(
                {"fields": CostRecord._fields, "reader": READER_VERSION, "index": location, "entries": entries},
                separators=(",", ":"),
            )
        )
        tmp.replace(path)
    except OSError:  # a home that cannot be written to only loses the speed-up
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _region(doc: Mapping[str, Any]) -> str | None:
    """The record's region; a record written before records stored it gets the one fallback JobRecord uses."""
    if "region" not in doc:
        from orchestrator.jobs.records import older_record_region

        return older_record_region(doc)
    region = doc["region"]
    return region if isinstance(region, str) else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError("expected a string")


def _maybe(value: Any) -> float | None:
    return None if value is None else _number(value)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError("expected a number")


def _sweep_id(doc: Mapping[str, Any]) -> str | None:
    sweep = doc.get("sweep")
    return _text(sweep["sweep_id"]) if isinstance(sweep, Mapping) and sweep.get("sweep_id") is not None else None


def _group_of(piece: Piece, by: str) -> str:
    if by == "resource-type":
        return f"{piece.kind}:{piece.item}"
    if by == "sweep":
        return piece.record.sweep_id or NO_SWEEP
    return str(getattr(piece.record, "job_id" if by == "job" else by))
