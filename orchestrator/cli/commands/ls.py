"""`trainctl ls`: every job, newest first."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option
from orchestrator.cli.render import table


@click.command("ls")
@click.option("--state", default=None, help="Only jobs in this state (running, succeeded, failed, ...).")
@output_option
def command(state: str | None, output: str) -> None:
    """List jobs with state, runtime and cost (no engine process is started)."""
    from orchestrator.jobs.records import validate_state
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.query import list_jobs

    rows = list_jobs(Runtime(), state=validate_state(state) if state else None)
    emit(rows, lambda: table(rows))
