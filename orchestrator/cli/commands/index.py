"""`trainctl index rebuild`: make the job index again from the backend's stacks."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option, say


@click.group("index")
def command() -> None:
    """The job index in the backend (what `ls`, `status` and `cost` read)."""


@command.command("rebuild")
@output_option
def rebuild(output: str) -> None:
    """Write a record for every job stack that has none (one engine start per stack: slow, never needed by `ls`)."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.reindex import rebuild_index

    result = rebuild_index(Runtime())

    def text() -> None:
        say(f"rebuilt {len(result.written)} record(s), kept {len(result.kept)}, failed {len(result.failed)}")
        for job_id in result.written:
            say(f"  rebuilt {job_id}")
        for job_id, why in result.failed.items():
            say(f"  failed  {job_id}: {why}")

    emit(result.to_dict(), text)
