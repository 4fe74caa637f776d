"""`trainctl cancel JOB` / `cancel --sweep ID`: graceful stop (final checkpoint), then teardown."""

from __future__ import annotations

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import emit, output_option, say


@click.command("cancel")
@click.argument("job", required=False, shell_complete=complete_job_id)
@click.option("--sweep", "sweep_id", default=None, metavar="SWEEP_ID", help="Cancel every job of this sweep instead.")
@output_option
def command(job: str | None, sweep_id: str | None, output: str) -> None:
    """Stop JOB (or every job of a sweep) gracefully, tear it down and keep its artifacts."""
    from orchestrator.cli.commands.down import one_target
    from orchestrator.lifecycle.context import Runtime

    rt = Runtime()
    if one_target(job, sweep_id) == "sweep":
        from orchestrator.sweep.control import cancel_sweep

        assert sweep_id is not None
        records = cancel_sweep(rt, sweep_id, lambda line: click.echo(line, err=True))

        def lines() -> None:
            for r in records:
                say(f"job {r.job_id}: {r.state} ({r.reason})")

        emit({"sweep_id": sweep_id, "jobs": [r.summary() for r in records]}, lines)
        return
    from orchestrator.lifecycle.stop import cancel_job

    assert job is not None
    record = cancel_job(rt, job)
    emit(record.summary(), lambda: say(f"job {record.job_id}: {record.state} ({record.reason})"))
