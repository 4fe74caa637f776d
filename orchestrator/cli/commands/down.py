"""`trainctl down JOB [--purge] [--yes]` / `down --sweep ID`: tear down; --purge deletes artifacts too (after confirmation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.confirm import confirm_destructive, yes_option
from orchestrator.cli.output import emit, output_option, say
from orchestrator.errors import InvalidInputError

if TYPE_CHECKING:
    from orchestrator.jobs.records import JobRecord
    from orchestrator.lifecycle.context import Runtime


@click.command("down")
@click.argument("job", required=False, shell_complete=complete_job_id)
@click.option("--sweep", "sweep_id", default=None, metavar="SWEEP_ID", help="Tear down every job of this sweep instead.")
@click.option("--purge", is_flag=True, help="Also delete the job's artifacts (checkpoints, logs, outputs); asks first.")
@yes_option("With --purge: delete without asking (needed without a terminal).")
@output_option
def command(job: str | None, sweep_id: str | None, purge: bool, yes: bool, output: str) -> None:
    """Tear JOB (or every job of a sweep) down, stopping it if it runs; artifacts stay unless --purge."""
    from orchestrator.lifecycle.context import Runtime

    rt = Runtime()
    if one_target(job, sweep_id) == "sweep":
        assert sweep_id is not None
        _down_sweep(rt, sweep_id, purge=purge, yes=yes)
        return
    from orchestrator.lifecycle.stop import down_job

    assert job is not None

    def confirm(record: JobRecord) -> None:
        what = f"delete every artifact of job {record.job_id} (checkpoints, logs, outputs)"
        confirm_destructive(what, yes=yes, command=f"trainctl down {record.job_id} --purge")

    record, removed = down_job(rt, job, purge=purge, confirm_purge=confirm)

    def text() -> None:
        say(f"job {record.job_id} is down ({record.state})")
        for path in removed:
            say(f"purged {path}")

    emit({**record.summary(), "purged": removed}, text)


def one_target(job: str | None, sweep_id: str | None) -> str:
    """``job`` or ``sweep``: exactly one of JOB and --sweep must be given (exit 2 otherwise)."""
    if (job is None) == (sweep_id is None):
        raise InvalidInputError("give either a JOB or --sweep SWEEP_ID", hint="`trainctl ls` lists jobs with their sweep_id")
    return "job" if job is not None else "sweep"


def _down_sweep(rt: Runtime, sweep_id: str, *, purge: bool, yes: bool) -> None:
    from orchestrator.sweep.control import down_sweep

    def confirm(records: list[JobRecord]) -> None:
        what = f"delete every artifact of the {len(records)} jobs of sweep {sweep_id} (checkpoints, logs, outputs)"
        confirm_destructive(what, yes=yes, command=f"trainctl down --sweep {sweep_id} --purge")

    results = down_sweep(rt, sweep_id, purge=purge, confirm_purge=confirm, say=lambda line: click.echo(line, err=True))

    def text() -> None:
        for record, removed in results:
            say(f"job {record.job_id} is down ({record.state})")
            for path in removed:
                say(f"purged {path}")

    emit({"sweep_id": sweep_id, "jobs": [{**r.summary(), "purged": removed} for r, removed in results]}, text)
