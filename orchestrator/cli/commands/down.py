"""`trainctl down JOB [--purge]`: tear a job down; --purge deletes its artifacts too."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit_json, is_json, output_option, say


@click.command("down")
@click.argument("job")
@click.option("--purge", is_flag=True, help="Also delete the job's artifacts (checkpoints, logs, outputs).")
@output_option
def command(job: str, purge: bool, output: str) -> None:
    """Tear JOB down (stopping it if it runs); artifacts stay unless --purge."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.stop import down_job

    record, removed = down_job(Runtime(), job, purge=purge)
    if is_json():
        emit_json({**record.summary(), "purged": removed})
        return
    say(f"job {record.job_id} is down ({record.state})")
    for path in removed:
        say(f"purged {path}")
