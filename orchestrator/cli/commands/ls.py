"""`trainctl ls`: every job, newest first."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option
from orchestrator.cli.render import table


@click.command("ls")
@click.option("--state", default=None, help="Only jobs in this state (running, succeeded, failed, ...).")
@click.option("--sweep", "sweep_id", default=None, metavar="SWEEP_ID", help="Only the jobs of this sweep (`trainctl sweep`).")
@output_option
def command(state: str | None, sweep_id: str | None, output: str) -> None:
    """List jobs with state, runtime and cost (no engine process is started)."""
    from orchestrator.jobs.records import validate_state
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.query import list_jobs

    rows = list_jobs(Runtime(), state=validate_state(state) if state else None, sweep=sweep_id)
    emit(rows, lambda: table(rows))
