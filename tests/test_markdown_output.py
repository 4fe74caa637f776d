"""`plan --output markdown` and `check --output markdown`: the pull-request summary (resources, estimate, verdicts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestrator.testing.harness import Trainctl
from tests.conftest import EXAMPLES

AWS = str(EXAMPLES / "aws" / "job.yaml")
QUICKSTART = str(EXAMPLES / "quickstart" / "job.yaml")


def tables(markdown: str) -> list[list[list[str]]]:
    """Every markdown table as rows of cells (header first, the --- line left out)."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= {"-", " "} for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def test_offline_plan_markdown_has_resources_estimate_with_fallback_and_verdict(cli) -> None:
    """The AWS example's summary: passed, every planned resource, the spot and on-demand fallback cases, the lines."""
    result = cli("plan", AWS, "--offline", "--output", "markdown")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    plan = json.loads(cli("plan", AWS, "--offline", "--output", "json").stdout)
    assert md.startswith("### trainctl plan: `resnet-baseline` on aws (offline plan)\n")
    assert "**Policy: passed**" in md
    resources, cases, lines = tables(md)[:3]
    assert resources[0] == ["op", "name", "type"]
    assert [(r[1], r[2]) for r in resources[1:]] == [(f"`{r['name']}`", f"`{r['type']}`") for r in plan["resources"]]
    assert f"#### Resources ({len(plan['resources'])} to create)" in md
    est, fallback = plan["estimate"], plan["estimate_if_fallback"]
    assert cases[1:] == [
        ["as planned", f"${est['hourly_usd']:.4f}", f"${est['max_usd']:.4f}"],
        ["if spot falls back to on-demand", f"${fallback['hourly_usd']:.4f}", f"${fallback['max_usd']:.4f}"],
    ]
    assert [row[0] for row in lines[1:]] == [line["item"] for line in est["lines"]]
    assert "Every policy passed." in md


def test_check_markdown_when_blocked_prints_the_summary_then_exits_3(cli, tmp_path: Path) -> None:
    """A blocked check still prints the summary on stdout (for the step summary), each violation with reason and fix;
    the exit code is 3 and the error goes to stderr."""
    caps = tmp_path / "caps.yaml"
    caps.write_text("max-hourly-cost: {maxUsd: 0.01}\n")
    result = cli("check", AWS, "--policy-config", str(caps), "--output", "markdown")
    assert result.exit_code == 3
    assert result.stdout.startswith("### trainctl check: `resnet-baseline` on aws")
    assert "**Policy: blocked** by 1 mandatory violation(s)" in result.stdout
    verdicts = tables(result.stdout)[-1]
    assert verdicts[0] == ["policy", "level", "resource", "reason", "fix"]
    [row] = verdicts[1:]
    assert row[:3] == ["`max-hourly-cost`", "mandatory", "`job-manifest`"]
    assert "above the cap of 0.0100 USD/hour" in row[3] and row[4].startswith("choose a cheaper")
    assert "error: blocked by policy" in result.stderr and "error" not in result.stdout


def test_local_plan_has_no_fallback_case_and_unbounded_max(cli, tmp_path: Path) -> None:
    """A local job has no spot fallback row; without limits.max_runtime the maximum reads unbounded."""
    spec = tmp_path / "job.yaml"
    spec.write_text("name: md-local\nteam: t\nowner: o@example.com\ncode:\n  run: echo hi\n")
    result = cli("plan", str(spec), "--offline", "--output", "markdown")
    assert result.exit_code == 0, result.stderr
    cases = tables(result.stdout)[1]
    assert [row[0] for row in cases[1:]] == ["as planned"]
    assert cases[1][2] == "unbounded (no `limits.max_runtime`)"


def test_markdown_tables_are_well_formed(cli, tmp_path: Path) -> None:
    """Every row of every table has as many cells as its header (pipes inside cells are escaped)."""
    caps = tmp_path / "caps.yaml"
    caps.write_text("max-hourly-cost: {maxUsd: 0.01}\nmax-job-cost: {maxUsd: 0.01}\n")
    md = cli("plan", AWS, "--offline", "--policy-config", str(caps), "--output", "markdown").stdout
    found = tables(md)
    assert len(found) == 4
    for table in found:
        assert {len(row) for row in table} == {len(table[0])}, table


def test_engine_preview_markdown(tc: Trainctl) -> None:
    """`plan -o markdown` with the engine: the preview's operations, the quickstart's resources, passed."""
    result = tc.run("plan", QUICKSTART, "--output", "markdown")
    assert result.returncode == 0, result.stderr
    assert "(engine preview)" in result.stdout.splitlines()[0]
    resources = tables(result.stdout)[0]
    assert {row[1] for row in resources[1:]} >= {"`workdir`", "`artifacts`", "`training`"}
    assert {row[0] for row in resources[1:]} == {"create"}
