"""`trainctl logs JOB [-f]`: the job's output."""

from __future__ import annotations

import sys

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import output_option


@click.command("logs")
@click.argument("job", shell_complete=complete_job_id)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@output_option
def command(job: str, follow: bool, output: str) -> None:
    """Print JOB's output (setup and run, stdout and stderr interleaved)."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.query import job_output

    for chunk in job_output(Runtime(), job, follow_output=follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
