"""`trainctl gc [--dry-run | --yes]`: find leaked resources, expired jobs and stale locks; remove with --yes."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option, say


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report (the default without --yes).")
@click.option("--yes", "-y", is_flag=True, help="Remove what is found, and say what was removed.")
@click.option("--local-only", is_flag=True, help="Skip the cloud side (no AWS calls).")
@output_option
def command(dry_run: bool, yes: bool, local_only: bool, output: str) -> None:
    """Three-way check of stack state, live resources found by job id, and each job's deadline."""
    from orchestrator.errors import InvalidInputError
    from orchestrator.gc.service import clean, find_leaks
    from orchestrator.lifecycle.context import Runtime

    if dry_run and yes:
        raise InvalidInputError("--dry-run and --yes exclude each other")
    rt = Runtime()
    findings = find_leaks(rt, cloud=not local_only)
    if yes:
        clean(rt, findings)

    def text() -> None:
        if not findings:
            say("nothing leaked, expired or stale")
            return
        for f in findings:
            verb = "removed" if f.removed else "found"
            say(f"{verb:8} {f.kind:18} {f.job_id:28} {f.resource}  ({f.detail})")
        if not yes:
            say(f"{len(findings)} finding(s); run `trainctl gc --yes` to remove them")

    emit({"findings": [f.to_dict() for f in findings], "applied": yes}, text)
