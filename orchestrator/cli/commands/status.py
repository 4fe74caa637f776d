"""`trainctl status [JOB]`: one job in detail, or the newest jobs."""

from __future__ import annotations

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import emit, output_option
from orchestrator.cli.render import job_view, table


@click.command("status")
@click.argument("job", required=False, shell_complete=complete_job_id)
@output_option
def command(job: str | None, output: str) -> None:
    """Show JOB (an id, or a name for its newest job); without JOB, the ten newest jobs."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.query import job_status, list_jobs

    rt = Runtime()
    if job is None:
        rows = list_jobs(rt, limit=10)
        emit({"jobs": rows}, lambda: table(rows))
        return
    detail = job_status(rt, job)
    emit(detail, lambda: job_view(detail))
