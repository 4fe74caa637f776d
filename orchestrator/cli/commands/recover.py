"""`trainctl recover JOB`: make the job's state true again after a crash."""

from __future__ import annotations

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import emit, output_option, say


@click.command("recover")
@click.argument("job", shell_complete=complete_job_id)
@output_option
def command(job: str, output: str) -> None:
    """Clear stale locks and pending operations, stop strays, finish an interrupted teardown."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.recover import recover_job

    record, actions = recover_job(Runtime(), job)

    def text() -> None:
        for line in actions:
            say(f"- {line}")
        say(f"job {record.job_id}: {record.state}")

    emit({**record.summary(), "actions": actions}, text)
