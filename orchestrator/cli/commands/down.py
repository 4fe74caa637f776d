"""`trainctl down JOB [--purge] [--yes]`: tear a job down; --purge deletes its artifacts too (after confirmation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.confirm import confirm_destructive, yes_option
from orchestrator.cli.output import emit, output_option, say

if TYPE_CHECKING:
    from orchestrator.jobs.records import JobRecord


@click.command("down")
@click.argument("job", shell_complete=complete_job_id)
@click.option("--purge", is_flag=True, help="Also delete the job's artifacts (checkpoints, logs, outputs); asks first.")
@yes_option("With --purge: delete without asking (needed without a terminal).")
@output_option
def command(job: str, purge: bool, yes: bool, output: str) -> None:
    """Tear JOB down (stopping it if it runs); artifacts stay unless --purge."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.stop import down_job

    def confirm(record: JobRecord) -> None:
        what = f"delete every artifact of job {record.job_id} (checkpoints, logs, outputs)"
        confirm_destructive(what, yes=yes, command=f"trainctl down {record.job_id} --purge")

    record, removed = down_job(Runtime(), job, purge=purge, confirm_purge=confirm)

    def text() -> None:
        say(f"job {record.job_id} is down ({record.state})")
        for path in removed:
            say(f"purged {path}")

    emit({**record.summary(), "purged": removed}, text)
