"""`trainctl cancel JOB`: graceful stop (final checkpoint), then teardown."""

from __future__ import annotations

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import emit, output_option, say


@click.command("cancel")
@click.argument("job", shell_complete=complete_job_id)
@output_option
def command(job: str, output: str) -> None:
    """Stop JOB gracefully, tear it down and keep its artifacts."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.stop import cancel_job

    record = cancel_job(Runtime(), job)
    emit(record.summary(), lambda: say(f"job {record.job_id}: {record.state} ({record.reason})"))
