"""`trainctl top`: a live view of running and recent jobs (one snapshot without a terminal)."""

from __future__ import annotations

import sys

import click

from orchestrator.cli.output import emit, output_option


@click.command("top")
@output_option
def command(output: str) -> None:
    """Running and recent jobs, refreshed every 2 s: state, runtime, cost against budget, heartbeat,
    newest checkpoint, script metrics. `q` or Ctrl-C quits. Without a terminal: one snapshot."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.top import top_rows

    rt = Runtime()
    if output != "text":
        rows = top_rows(rt)
        emit({"jobs": rows}, lambda: None)
        return
    from orchestrator.cli.top import print_snapshot, run_live

    if sys.stdin.isatty() and sys.stdout.isatty():
        run_live(lambda: top_rows(rt))
    else:
        print_snapshot(top_rows(rt))
