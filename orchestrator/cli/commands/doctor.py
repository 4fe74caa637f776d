"""`trainctl doctor`: one line per prerequisite, each ok / missing with what to do."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option, say
from orchestrator.errors import PrerequisiteMissingError


@click.command("doctor")
@output_option
def command(output: str) -> None:
    """Check the engine, the state backend, the passphrase, AWS credentials and the policy pack."""
    from orchestrator.doctor import run_checks

    checks = run_checks()

    def text() -> None:
        for check in checks:
            mark = "ok" if check.ok else ("warn" if not check.required else "MISSING")
            line = f"{mark:8} {check.name:14} {check.detail}"
            say(line + (f"  -> {check.fix}" if check.fix and not check.ok else ""))

    emit({"checks": [check.__dict__ for check in checks]}, text)
    missing = [c.name for c in checks if c.required and not c.ok]
    if missing:
        raise PrerequisiteMissingError(f"doctor: required checks failed: {', '.join(missing)}", hint="follow the -> hints above")
