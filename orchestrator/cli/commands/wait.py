"""`trainctl wait JOB [--timeout D]`: block until the job ends; the exit code says how (docs/ci.md)."""

from __future__ import annotations

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import emit, output_option, say
from orchestrator.errors import InvalidInputError


@click.command("wait")
@click.argument("job", shell_complete=complete_job_id)
@click.option("--timeout", metavar="DURATION", help="Give up after this long (90s, 30m, 2h, 1d): exit 7, the job keeps running.")
@output_option
def command(job: str, timeout: str | None, output: str) -> None:
    """Wait for JOB to end: exit 0 if it succeeded, 6 if it failed or was cancelled, 7 on --timeout, 130 on Ctrl-C."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.wait import wait_for_job
    from orchestrator.spec.durations import parse_duration

    try:
        timeout_s = parse_duration(timeout) if timeout is not None else None
    except ValueError as e:
        raise InvalidInputError(f"--timeout: {e}", hint="for example --timeout 30m") from e
    result = wait_for_job(Runtime(), job, timeout_s=timeout_s)
    record = result.record
    emit(
        {**record.summary(), "torn_down": record.torn_down, "timed_out": not result.ended, "waited_s": round(result.waited_s, 1)},
        lambda: say(f"job {record.job_id}: {record.state}" + (f" ({record.reason})" if record.reason else "")),
    )
    result.raise_for_outcome()
