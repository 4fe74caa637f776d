"""Actual costs from AWS Cost Explorer, reconciled per job with trainctl's estimates; cost allocation tags.

Cost Explorer can group cost by the ``trainctl:*`` tags only once they are cost allocation tags
(:func:`activate_tags`; AWS applies an activation to costs from then on, not backwards). Its data lags by
up to a day, so a job that ran in the last day or two may have no actual cost yet: such jobs are flagged,
not counted as zero. The query asks for daily unblended cost grouped by the job-id and team tags; AWS
charges USD 0.01 per Cost Explorer request (one per page). Clients come from ``orchestrator.cloud.aws``; each
request runs under the one retry policy (``aws.call``: throttling retried, access denied fails at once).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.cost.reports import (
    CostRecord,
    GroupCost,
    Report,
    StoragePricer,
    day_iso,
    pieces,
    select_records,
    window_days,
)
from orchestrator.cost.window import DAY_S, Window
from orchestrator.errors import CloudError, InvalidInputError
from orchestrator.vocabulary import COST_TAGS, Tag

if TYPE_CHECKING:
    from orchestrator.settings import Settings

TAG_KEYS = tuple(tag.value for tag in COST_TAGS)
JOB_TAG, TEAM_TAG = Tag.JOB_ID.value, Tag.TEAM.value
METRIC = "UnblendedCost"
CE_REGION = "us-east-1"  # Cost Explorer has one endpoint, in us-east-1
ACTUAL_GROUPINGS = ("job", "team", "owner", "target")
LAG_NOTICE = (
    "Cost Explorer data lags by up to a day: the newest day is incomplete, and jobs that ran in the last day "
    "may have no actual cost yet."
)
RECENT_S = 2 * DAY_S  # a job that ended this recently may still be missing from Cost Explorer
DEFAULT_LOOKBACK_DAYS = 30
MAX_LOOKBACK_DAYS = 365  # Cost Explorer keeps 13 months by default
_ACTIVATE_HINT = (
    "a tag key can be activated only after it appears in billing data (up to 24 hours after the first tagged "
    "resource runs); run a job on AWS, wait a day, then retry"
)


@dataclass
class Actuals:
    """What Cost Explorer answered: USD per tagged job (in total and per day), and the untagged rest."""

    by_job: dict[str, float] = field(default_factory=dict)
    days_by_job: dict[str, dict[str, float]] = field(default_factory=dict)
    team_of: dict[str, str] = field(default_factory=dict)
    untagged_usd: float = 0.0
    estimated: bool = False


@dataclass(frozen=True)
class Reconciled:
    """One job: trainctl's estimate next to what AWS billed. ``status`` says when they cannot be compared."""

    job_id: str
    name: str | None
    team: str | None
    state: str | None
    estimate_usd: float | None
    actual_usd: float | None
    status: str  # reconciled | no-actual-yet | no-actual | not-in-ledger

    @property
    def difference_usd(self) -> float | None:
        """actual - estimate (positive: AWS billed more than estimated)."""
        if self.actual_usd is None or self.estimate_usd is None:
            return None
        return self.actual_usd - self.estimate_usd

    def to_dict(self) -> dict[str, Any]:
        def money(usd: float | None) -> float | None:
            return None if usd is None else round(usd, 6)

        pct = None
        if self.difference_usd is not None and self.estimate_usd:
            pct = round(100 * self.difference_usd / self.estimate_usd, 2)
        return {
            "job_id": self.job_id,
            "name": self.name,
            "team": self.team,
            "state": self.state,
            "estimate_usd": money(self.estimate_usd),
            "actual_usd": money(self.actual_usd),
            "difference_usd": money(self.difference_usd),
            "difference_pct": pct,
            "status": self.status,
        }


@dataclass
class ActualReport:
    """Actual cost per group (``report``, estimate False) and the per-job reconciliation."""

    report: Report
    jobs: list[Reconciled]
    estimate_total_usd: float
    untagged_usd: float
    cost_explorer_estimated: bool

    def reconciled(self) -> dict[str, Any]:
        """Totals over the jobs that have both an estimate and an actual: the comparable part."""
        rows = [r for r in self.jobs if r.status == "reconciled"]
        estimate, actual = sum(r.estimate_usd or 0.0 for r in rows), sum(r.actual_usd or 0.0 for r in rows)
        money = {"estimate_usd": estimate, "actual_usd": actual, "difference_usd": actual - estimate}
        return {"jobs": len(rows)} | {k: round(v, 6) for k, v in money.items()}

    def to_dict(self) -> dict[str, Any]:
        return self.report.to_dict() | {
            "reconciled": self.reconciled(),
            "estimate_total_usd": round(self.estimate_total_usd, 6),
            "untagged_usd": round(self.untagged_usd, 6),
            "cost_explorer_estimated": self.cost_explorer_estimated,
            "lag_notice": LAG_NOTICE,
            "jobs": [row.to_dict() for row in self.jobs],
        }


def actual_report(
    settings: Settings,
    *,
    by: str = "job",
    job: str | None = None,
    window: Window | None = None,
    now: float | None = None,
    ce: Any = None,
) -> ActualReport:
    """Ask Cost Explorer for the window's cost per job; reconcile it with the estimates (compute + gp3 storage).

    The window is widened to whole UTC days (see :func:`actual_window`)."""
    if by not in ACTUAL_GROUPINGS:
        raise InvalidInputError(
            f"--by {by} is not available with --actual",
            hint=f"Cost Explorer groups by the job-id and team tags; with --actual use --by {', '.join(ACTUAL_GROUPINGS)}",
        )
    now = time.time() if now is None else now
    records = select_records(settings, job)
    window = actual_window(window or Window(None, now), now, records)
    assert window.start is not None
    start, end = (dt.date.fromisoformat(day_iso(int(edge // DAY_S))) for edge in (window.start, window.end))
    if ce is None:
        from orchestrator.cloud.aws import client

        ce = client("ce", region=CE_REGION)
    actuals = fetch_actuals(ce, start, end)
    aws_records = [r for r in records if r.target == "aws"]
    pricer = StoragePricer(settings)
    estimates: dict[str, float] = {}
    for piece in pieces(aws_records, window, now, pricer):
        estimates[piece.record.job_id] = estimates.get(piece.record.job_id, 0.0) + piece.usd
    known = {r.job_id: r for r in records}
    wanted = None if job is None else {r.job_id for r in records}
    ids = sorted(set(estimates) | {i for i in actuals.by_job if wanted is None or i in wanted})
    rows = [_reconcile(i, known.get(i), estimates.get(i), actuals, now) for i in ids]
    groups = _actual_groups(by, actuals, known, ids)
    billed = sum(1 for i in ids if i in actuals.by_job)
    report = Report(by=by, window=window, groups=groups, jobs=billed, days=window_days(window, None), estimate=False)
    elsewhere = sum(1 for _ in pieces((r for r in records if r.target != "aws"), window, now))
    report.notices.extend(_notices(rows, elsewhere, pricer))
    return ActualReport(report, rows, sum(estimates.values()), actuals.untagged_usd, actuals.estimated)


def actual_window(asked: Window, now: float, records: Iterable[CostRecord]) -> Window:
    """Whole UTC days, as Cost Explorer counts them; with no start, from the first AWS job's day (at most a
    year back; 30 days when there is none). The end never passes tomorrow (Cost Explorer's exclusive end)."""
    end_day = min(math.ceil(asked.end / DAY_S), int(now // DAY_S) + 1)
    if asked.start is not None:
        start_day = int(asked.start // DAY_S)
    else:
        starts = [start for r in records if r.target == "aws" for start, _, _ in r.runs(now)[:1] if start < asked.end]
        earliest = int(min(starts) // DAY_S) if starts else end_day - DEFAULT_LOOKBACK_DAYS
        start_day = max(earliest, end_day - MAX_LOOKBACK_DAYS)
    start_day = min(start_day, end_day - 1)
    return Window(float(start_day * DAY_S), float(end_day * DAY_S))


def fetch_actuals(ce: Any, start: dt.date, end: dt.date) -> Actuals:
    """Daily unblended cost from ``start`` to ``end`` (exclusive), grouped by the job-id and team tags."""
    from orchestrator.cloud.aws import call, error_code

    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "TAG", "Key": JOB_TAG}, {"Type": "TAG", "Key": TEAM_TAG}],
    }
    out = Actuals()
    token: str | None = None
    while True:
        paging = {"NextPageToken": token} if token else {}
        try:
            page = call(
                "Cost Explorer get_cost_and_usage",
                functools.partial(ce.get_cost_and_usage, **request, **paging),
                start=start.isoformat(),
                end=end.isoformat(),
            )
        except CloudError as e:
            if error_code(e) == "DataUnavailableException":
                e.hint = "Cost Explorer is not enabled for this account (Billing console > Cost Explorer), or has no data yet"
            raise
        for period in page.get("ResultsByTime", []):
            _add_period(out, period)
        token = page.get("NextPageToken")
        if not token:
            return out


def activate_tags(ce: Any = None) -> list[str]:
    """Make the trainctl tags cost allocation tags; the keys activated (CloudError naming any that failed)."""
    from orchestrator.cloud.aws import call

    if ce is None:
        from orchestrator.cloud.aws import client

        ce = client("ce", region=CE_REGION)
    entries = [{"TagKey": key, "Status": "Active"} for key in TAG_KEYS]
    answer = call(
        "Cost Explorer update_cost_allocation_tags_status",
        lambda: ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=entries),
    )
    failed = {str(e.get("TagKey")): e for e in answer.get("Errors") or []}
    if failed:
        details = [f"{key}: {e.get('Code') or 'error'}: {e.get('Message') or ''}".rstrip(": ") for key, e in failed.items()]
        activated = [key for key in TAG_KEYS if key not in failed]
        raise CloudError(
            f"{len(failed)} of {len(TAG_KEYS)} tag keys were not activated"
            + (f" (activated: {', '.join(activated)})" if activated else ""),
            details=details,
            hint=_ACTIVATE_HINT,
            context={"failed": ",".join(failed)},
        )
    return list(TAG_KEYS)


def _add_period(out: Actuals, period: Mapping[str, Any]) -> None:
    day = str(period.get("TimePeriod", {}).get("Start", ""))[:10]
    out.estimated = out.estimated or bool(period.get("Estimated"))
    for group in period.get("Groups") or []:
        tags = _tag_values(group.get("Keys") or [])
        usd = _amount(group.get("Metrics") or {})
        job_id = tags.get(JOB_TAG, "")
        if not job_id:
            out.untagged_usd += usd
            continue
        out.by_job[job_id] = out.by_job.get(job_id, 0.0) + usd
        days = out.days_by_job.setdefault(job_id, {})
        days[day] = days.get(day, 0.0) + usd
        if tags.get(TEAM_TAG):
            out.team_of[job_id] = tags[TEAM_TAG]


def _tag_values(keys: Iterable[str]) -> dict[str, str]:
    """Cost Explorer names a tag group ``<key>$<value>`` (empty value: resources without the tag)."""
    values: dict[str, str] = {}
    for key in keys:
        name, sep, value = str(key).partition("$")
        if sep:
            values[name] = value
    return values


def _amount(metrics: Mapping[str, Any]) -> float:
    metric = metrics.get(METRIC) or next(iter(metrics.values()), None) or {}
    try:
        return float(metric.get("Amount", 0.0))
    except (TypeError, ValueError) as e:
        raise CloudError(f"Cost Explorer returned an unreadable amount: {metric!r}") from e


def _reconcile(job_id: str, record: CostRecord | None, estimate: float | None, actuals: Actuals, now: float) -> Reconciled:
    actual = actuals.by_job.get(job_id)
    if record is None:
        return Reconciled(job_id, None, actuals.team_of.get(job_id), None, None, actual, "not-in-ledger")
    estimate = estimate or 0.0
    status = "reconciled"
    if actual is None:
        status = "no-actual-yet" if record.interval(now)[1] >= now - RECENT_S else "no-actual"
    return Reconciled(job_id, record.name, record.team, record.state, estimate, actual, status)


def _actual_groups(by: str, actuals: Actuals, known: Mapping[str, CostRecord], ids: Iterable[str]) -> list[GroupCost]:
    groups: dict[str, GroupCost] = {}
    for job_id in ids:
        if job_id not in actuals.by_job:
            continue
        record = known.get(job_id)
        if by == "job":
            name = job_id
        elif by == "team":
            name = actuals.team_of.get(job_id) or (record.team if record else "(no team tag)")
        else:
            name = getattr(record, by) if record else "(not in the job records)"
        group = groups.setdefault(name, GroupCost(name))
        group.cost_usd += actuals.by_job[job_id]
        group.jobs += 1
        for day, usd in actuals.days_by_job.get(job_id, {}).items():
            group.days[day] = group.days.get(day, 0.0) + usd
    return sorted(groups.values(), key=lambda g: (-g.cost_usd, g.group))


def _notices(rows: list[Reconciled], elsewhere: int, pricer: StoragePricer) -> list[str]:
    notices = [LAG_NOTICE]
    missing = sum(1 for r in rows if r.status == "no-actual")
    if missing:
        notices.append(
            f"{missing} job(s) that ended over two days ago have no actual cost: are the tags cost allocation tags? "
            "`trainctl cost activate-tags` (activation covers costs from then on)"
        )
    if elsewhere:
        notices.append(f"{elsewhere} job(s) on non-AWS targets are not reconciled: AWS does not bill them")
    notices.extend(pricer.notices())
    return notices
