"""`trainctl validate SPEC`: exit 0 with the normalized spec, or 2 naming every problem."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit_json, is_json, notice, output_option, say
from orchestrator.spec.loader import load_spec


@click.command("validate")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@output_option
def command(spec: str, output: str) -> None:
    """Check the job spec SPEC; print it normalized (every default filled in)."""
    loaded = load_spec(spec)
    for line in loaded.notices:
        notice(line)
    if is_json():
        emit_json(loaded.spec.to_document())
        return
    s = loaded.spec
    say(f"ok: {loaded.source}: job {s.name!r} (team {s.team}, owner {s.owner}, target {s.target})")
