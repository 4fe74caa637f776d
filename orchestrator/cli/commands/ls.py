"""`trainctl ls`: every job of the backend, newest first; --mine, --owner, --team filter."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option
from orchestrator.cli.render import table


@click.command("ls")
@click.option("--state", default=None, help="Only jobs in this state (running, succeeded, failed, ...).")
@click.option("--sweep", "sweep_id", default=None, metavar="SWEEP_ID", help="Only the jobs of this sweep (`trainctl sweep`).")
@click.option("--mine", is_flag=True, help="Only jobs you own: the owner named by TRAINCTL_OWNER (or `owner` in config.toml).")
@click.option("--owner", default=None, metavar="OWNER", help="Only jobs whose spec names this owner.")
@click.option("--team", default=None, metavar="TEAM", help="Only jobs of this team.")
@output_option
def command(state: str | None, sweep_id: str | None, mine: bool, owner: str | None, team: str | None, output: str) -> None:
    """List every job of the backend with owner, state, runtime and cost (no engine process is started)."""
    from orchestrator.jobs.records import validate_state
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.query import list_jobs, me

    rt = Runtime()
    if mine:
        owner = me(rt.settings, owner)
    rows = list_jobs(rt, state=validate_state(state) if state else None, sweep=sweep_id, owner=owner, team=team)
    emit({"jobs": rows}, lambda: table(rows))
