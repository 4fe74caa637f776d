"""`trainctl validate SPEC`: exit 0 with the normalized spec, or 2 naming every problem."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, notice, output_option, say
from orchestrator.spec.loader import check_spec


@click.command("validate")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@output_option
def command(spec: str, output: str) -> None:
    """Check the job spec SPEC; print it normalized (every default filled in)."""
    checked = check_spec(spec)
    for line in checked.notices:
        notice(line)
    doc = checked.document
    emit(
        doc,
        lambda: say(
            f"ok: {checked.source}: job {doc['name']!r} (team {doc['team']}, owner {doc['owner']}, target {doc['target']})"
        ),
    )
