"""`trainctl cost`: cost reports (estimated, or actual from Cost Explorer) and cost allocation tag activation."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator.cli.output import emit, notice, output_choice, output_option, say
from orchestrator.cost.reports import GROUPINGS
from orchestrator.errors import InvalidInputError

if TYPE_CHECKING:
    from orchestrator.cost.actuals import ActualReport
    from orchestrator.cost.reports import Report
GROUP_COLUMNS = ("group", "cost_usd", "jobs")
RECONCILE_COLUMNS = ("job_id", "name", "team", "state", "estimate_usd", "actual_usd", "difference_usd", "status")


class _CostGroup(click.Group):
    """`cost [JOB] [OPTIONS]` is `cost report [JOB] [OPTIONS]`; `cost activate-tags` is the other subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["report", *args]
        return super().parse_args(ctx, args)


@click.group("cost", cls=_CostGroup)
def command() -> None:
    """Cost reports by job, team, owner, target, resource type or sweep.

    `trainctl cost [JOB] [--by ...] [--since ...] [--until ...] [--actual] [--html FILE]` runs `cost report`
    (see `trainctl cost report --help`); `trainctl cost activate-tags` makes the trainctl tags cost allocation tags.
    """


@command.command("report")
@click.argument("job", required=False)
@click.option("--by", type=click.Choice(GROUPINGS), default="job", show_default=True, help="Group costs by this.")
@click.option("--since", metavar="DATE|DURATION", help="Start: a UTC date (2026-11-01) or a duration back from now (7d).")
@click.option("--until", metavar="DATE|DURATION", help="End (that whole day for a date; default now).")
@click.option("--actual", is_flag=True, help="Actual cost from AWS Cost Explorer, reconciled with estimates per job.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write a chart page here.")
@output_choice("text", "json", "csv")
def report(
    job: str | None, by: str, since: str | None, until: str | None, actual: bool, html_file: Path | None, output: str
) -> None:
    """Cost of JOB (an id, or a name for its newest job), or of every job, grouped and spread over the days jobs ran.

    Estimates use each job's recorded final cost, or the cost accrued so far while it runs.
    """
    from orchestrator.cost.window import parse_window
    from orchestrator.settings import get_settings

    settings = get_settings()
    now = time.time()
    window = parse_window(since, until, now)
    if actual:
        from orchestrator.cost.actuals import actual_report

        reconciled = actual_report(settings, by=by, job=job, window=window, now=now)
        _write_html(html_file, reconciled.report, output)
        _print_actual(reconciled)
        return
    from orchestrator.cost.reports import cost_report

    result = cost_report(settings, by=by, job=job, window=window, now=now)
    _write_html(html_file, result, output)

    def text() -> None:
        _print_groups(result)
        say(f"window: {_span(result)}; estimates: recorded final cost, or accrued so far for unfinished jobs")
        for line in result.notices:
            say(f"note: {line}")

    def csv() -> None:
        _write_csv([g.to_dict() for g in result.groups], GROUP_COLUMNS)
        for line in result.notices:
            notice(line)

    emit(result.to_dict(), text, csv=csv)


@command.command("activate-tags")
@output_option
def activate_tags(output: str) -> None:
    """Activate the trainctl:* tags as cost allocation tags, so Cost Explorer can group costs by them."""
    from orchestrator.cost.actuals import activate_tags as activate

    keys = activate()

    def text() -> None:
        for key in keys:
            say(f"activated {key}")
        say("AWS applies cost allocation tags to costs from now on; Cost Explorer shows them within about a day.")

    emit({"activated": keys}, text)


def _print_actual(result: ActualReport) -> None:
    def csv() -> None:
        _write_csv([row.to_dict() for row in result.jobs], RECONCILE_COLUMNS)
        for line in result.report.notices:
            notice(line)

    emit(result.to_dict(), lambda: _actual_table(result), csv=csv)


def _actual_table(result: ActualReport) -> None:
    from orchestrator.cli.render import table
    from orchestrator.cost.actuals import LAG_NOTICE

    columns: tuple[tuple[str, str], ...] = (("JOB", "job_id"), ("NAME", "name"), ("TEAM", "team"), ("STATE", "state"))
    columns += (("ESTIMATE $", "estimate"), ("ACTUAL $", "actual"), ("DIFF $", "diff"), ("STATUS", "status"))
    rows = [row.to_dict() for row in result.jobs]
    for row in rows:
        row |= {
            "estimate": _usd(row["estimate_usd"]),
            "actual": _usd(row["actual_usd"]),
            "diff": _usd(row["difference_usd"], "+"),
        }
    table(rows, columns) if rows else say("no AWS jobs and no tagged Cost Explorer costs in this window")
    if result.report.by != "job" and result.report.groups:
        say()
        _print_groups(result.report)
    both = result.reconciled()
    say(
        f"{both['jobs']} reconciled job(s): actual {both['actual_usd']:.4f} USD vs estimated {both['estimate_usd']:.4f} USD "
        f"({both['difference_usd']:+.4f}); all tagged actual cost: {result.report.total_usd:.4f} USD; "
        f"untagged AWS cost: {result.untagged_usd:.4f} USD"
    )
    say(f"window: {_span(result.report)}")
    for line in result.report.notices:
        say(f"{'notice' if line == LAG_NOTICE else 'note'}: {line}")


def _print_groups(result: Report) -> None:
    from orchestrator.cli.render import table

    rows = [g.to_dict() for g in result.groups]
    rows.append({"group": "TOTAL", "jobs": result.jobs, "cost_usd": result.total_usd})
    table(rows, ((result.by.upper(), "group"), ("JOBS", "jobs"), ("COST $", "cost_usd")))


def _write_html(path: Path | None, result: Report, output: str) -> None:
    if path is None:
        return
    from orchestrator.cost.html import render_html

    kind = "estimated" if result.estimate else "actual"
    try:
        path.write_text(render_html(result, title=f"trainctl: {kind} cost by {result.by}"), encoding="utf-8")
    except OSError as e:
        raise InvalidInputError(f"cannot write {path}: {e.strerror}", hint="choose a writable path for --html") from e
    say(f"wrote {path}") if output == "text" else notice(f"wrote {path}")


def _write_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """CSV on stdout with a header line; None is an empty cell."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if row.get(c) is None else row[c] for c in columns] for row in rows)
    sys.stdout.flush()


def _span(result: Report) -> str:
    window = result.window.to_dict()
    return f"{window['since'] or 'first job'} .. {window['until']} (UTC)"


def _usd(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.4f}"
