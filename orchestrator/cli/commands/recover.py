"""`trainctl recover JOB`: make the job's state true again after a crash."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.confirm import confirm_destructive, yes_option
from orchestrator.cli.output import emit, output_option, say

if TYPE_CHECKING:
    from orchestrator.engine.locks import EngineLock


@click.command("recover")
@click.argument("job", shell_complete=complete_job_id)
@yes_option("Clear a lock held on another host without asking (trainctl cannot see whether its holder still runs).")
@output_option
def command(job: str, yes: bool, output: str) -> None:
    """Clear stale locks and pending operations, stop strays, finish an interrupted teardown."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.recover import recover_job

    def confirm(lock: EngineLock) -> None:
        what = f"clear the lock on {lock.job_id} held by {lock.holder()}, a process this host cannot see"
        confirm_destructive(what, yes=yes, command=f"trainctl recover {job}")

    record, actions = recover_job(Runtime(), job, confirm_lock=confirm)

    def text() -> None:
        for line in actions:
            say(f"- {line}")
        say(f"job {record.job_id}: {record.state}")

    emit({**record.summary(), "actions": actions}, text)
