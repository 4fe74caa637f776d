"""`trainctl cost --html FILE`: a self-contained page with a chart of cost per day by group."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from orchestrator.cost.html import render_html
from orchestrator.cost.reports import cost_report
from orchestrator.cost.window import parse_window
from orchestrator.settings import get_settings
from tests.cost.conftest import save_job, ts

NOV = ("--since", "2026-11-01", "--until", "2026-11-07")
NOW = ts("2026-12-01T00:00")


def embedded_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="trainctl-cost-data">(.*?)</script>', page, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_page_is_self_contained_with_a_chart_per_group(cli, trainctl_home: Path, tmp_path: Path) -> None:
    """The page has an inline <svg> with one bar series per group and fetches nothing (no src, href, url() or @import)."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T10:00"), hours=30, hourly=1.0)
    save_job(trainctl_home, "b-bbbbbb", start=ts("2026-11-04T10:00"), hours=2, hourly=2.0, team="nlp")
    out = tmp_path / "cost.html"
    result = cli("cost", "--by", "team", "--html", str(out), *NOV)
    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "</svg>" in page
    for group in ("vision", "nlp"):
        assert f'<g data-group="{group}"' in page
    for fetch in ("src=", "href=", "url(", "@import", "http://", "https://", "<link", "<img"):
        assert fetch not in page, fetch
    data = embedded_data(page)
    assert data["days"] == [f"2026-11-0{d}" for d in range(1, 8)]
    assert data["series"]["vision"] == {"2026-11-02": 14.0, "2026-11-03": 16.0}
    assert data["series"]["nlp"] == {"2026-11-04": 4.0}


def test_json_output_still_clean_with_html(cli, trainctl_home: Path, tmp_path: Path) -> None:
    """With -o json and --html, stdout is only the JSON report; the 'wrote' line goes to stderr."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T10:00"), hours=1)
    out = tmp_path / "cost.html"
    result = cli("cost", "-o", "json", "--html", str(out), *NOV)
    assert json.loads(result.stdout)["total_usd"] == 1.0
    assert "wrote" in result.stderr and out.exists()


def test_many_groups_fold_into_other(trainctl_home: Path) -> None:
    """Past nine groups the smallest share one grey 'other' series, so colours stay distinguishable; the table lists all."""
    for i in range(14):
        save_job(
            trainctl_home, f"j{i:02d}-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, hourly=float(i + 1), team=f"team{i:02d}"
        )
    report = cost_report(get_settings(), by="team", window=parse_window("2026-11-01", "2026-11-03", NOW))
    page = render_html(report, title="t")
    assert page.count("<g data-group=") == 10
    assert '<g data-group="other (5 groups)"' in page
    for i in range(14):
        assert f"team{i:02d}</td>" in page


def test_escapes_group_names(trainctl_home: Path) -> None:
    """Group names are escaped: a team called <script> cannot inject markup."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, team="<script>alert(1)</script>")
    page = render_html(cost_report(get_settings(), by="team", window=parse_window(None, "2026-11-03", NOW)), title="t")
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_empty_window_says_so(trainctl_home: Path) -> None:
    """A window with no cost renders a page that says so instead of an empty chart."""
    report = cost_report(get_settings(), by="team", window=parse_window("2026-11-01", "2026-11-02", NOW))
    page = render_html(report, title="t")
    assert "No cost in this window" in page and "<svg" not in page


def test_unwritable_html_path_exits_2(cli, trainctl_home: Path, tmp_path: Path) -> None:
    """An --html path that cannot be written is invalid input, named in the error."""
    result = cli("cost", "--html", str(tmp_path / "missing-dir" / "x.html"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


def test_headline_shows_a_sub_cent_total(trainctl_home: Path) -> None:
    """A window that cost $0.0029 reads "$0.0029" in the headline, not "$0.00"."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, cost=0.0029)
    page = render_html(cost_report(get_settings(), by="team", window=parse_window(None, "2026-11-03", NOW)), title="t")
    headline = re.search(r'<div class="total">([^<]*)<small>', page)
    assert headline is not None and headline.group(1).strip() == "$0.0029"
