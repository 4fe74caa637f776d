"""`trainctl top`'s screen: a rich table of running and recent jobs, live and full-screen on a terminal.

On a terminal the table is redrawn every ``REFRESH_S`` seconds in the alternate screen; ``q`` or
Ctrl-C leaves it and restores the terminal. Anywhere else one snapshot is printed. rich is imported
here only, when `top` runs.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

REFRESH_S = 2.0
METRICS_SHOWN = 4
Rows = list[dict[str, Any]]


def render(rows: Rows, *, title: str = "") -> Table:
    """The table of ``rows`` (``lifecycle.top.top_rows``)."""
    table = Table(title=title or None, title_justify="left", expand=False)
    for header, justify in (
        ("JOB", "left"),
        ("STATE", "left"),
        ("TARGET", "left"),
        ("RUNTIME", "right"),
        ("COST / BUDGET", "right"),
        ("HEARTBEAT", "right"),
        ("CHECKPOINT", "right"),
        ("SCRIPT METRICS", "left"),
    ):
        table.add_column(header, justify=justify, no_wrap=header != "SCRIPT METRICS")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            row["job_id"],
            _state(row["state"]),
            row["target"],
            _duration(row["runtime_s"]),
            _cost(row["cost_usd"], row["budget_usd"]),
            _age(row["heartbeat_age_s"]),
            _age(row["checkpoint_age_s"]),
            _metrics(row["metrics"]),
        )
        for node in row.get("nodes") or ():  # a multi-node job: one line per node below it
            reason = (node["reason"] if node["state"] != "running" else None) or ""
            heartbeat = _age(node["heartbeat_age_s"])
            table.add_row(f"  node {node['rank']}", _state(node["state"]), "", "", "", heartbeat, "", reason)
    if not rows:
        table.add_row("no jobs yet: `trainctl up SPEC`", "", "", "", "", "", "", "")
    return table


def print_snapshot(rows: Rows) -> None:
    """One table on stdout (no terminal: a width that keeps every column)."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(render(rows))


def run_live(fetch: Callable[[], Rows]) -> None:
    """Redraw ``fetch()`` every REFRESH_S seconds until ``q`` or Ctrl-C; the terminal is restored either way."""
    console = Console()
    try:
        with _keys() as next_key, Live(console=console, screen=True, auto_refresh=False, transient=True) as live:
            while True:
                stamp = time.strftime("%H:%M:%S")
                live.update(render(fetch(), title=f"trainctl top  {stamp}  (q quits)"), refresh=True)
                if next_key(REFRESH_S) in ("q", "Q"):
                    return
    except KeyboardInterrupt:
        return


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], str | None]]:
    """Single keys from the terminal without Enter (signals such as Ctrl-C still work); restored on exit."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def next_key(timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                data = os.read(fd, 32)
                if not data:
                    return None
                return data.decode(errors="replace")[:1]
        return None

    try:
        yield next_key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _state(state: str) -> str:
    colour = {"running": "green", "provisioning": "cyan", "failed": "red", "interrupted": "yellow", "blocked": "red"}.get(state)
    return f"[{colour}]{state}[/{colour}]" if colour else state


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{_duration(seconds)} ago"


def _cost(cost: float | None, budget: float | None) -> str:
    spent = "-" if cost is None else f"${cost:.4f}"
    return f"{spent} / ${budget:.2f}" if budget is not None else spent


def _metrics(values: dict[str, float]) -> str:
    shown = list(values.items())[:METRICS_SHOWN]
    text = " ".join(f"{name}={value:.4g}" for name, value in shown)
    return text + (" ..." if len(values) > METRICS_SHOWN else "") if text else "-"
