"""Tables and one-job views for people (JSON output never goes through here)."""

from __future__ import annotations

from typing import Any

from orchestrator.cli.output import say

JOB_COLUMNS = (
    ("JOB", "job_id"),
    ("STATE", "state"),
    ("TARGET", "target"),
    ("TEAM", "team"),
    ("OWNER", "owner"),
    ("CREATED", "created"),
    ("RUNTIME", "runtime_s"),
    ("COST $", "cost_usd"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "runtime_s":
        seconds = int(value)
        return (
            f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
            if seconds >= 3600
            else f"{seconds // 60}m{seconds % 60:02d}s"
        )
    if key == "cost_usd":
        return f"{value:.4f}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...] = JOB_COLUMNS) -> None:
    """Print ``rows`` as an aligned text table."""
    cells = [[_cell(key, row.get(key)) for _, key in columns] for row in rows]
    widths = [max([len(title)] + [len(r[i]) for r in cells]) for i, (title, _) in enumerate(columns)]
    say("  ".join(title.ljust(w) for (title, _), w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        say("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


NODE_COLUMNS = (("NODE", "rank"), ("STATE", "state"), ("HEARTBEAT AGE S", "heartbeat_age_s"), ("REASON", "reason"))


def job_view(job: dict[str, Any]) -> None:
    """Print one job as ``key: value`` lines (a multi-node job's nodes as a table at the end)."""
    for key, value in job.items():
        if key == "nodes":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        say(f"{key:18} {_cell(key, value)}")
    if job.get("nodes"):
        say("")
        table(job["nodes"], NODE_COLUMNS)
