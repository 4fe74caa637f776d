"""`trainctl finalize JOB` (hidden): run by the agent at the end of a run to tear its job down."""

from __future__ import annotations

import click


@click.command("finalize", hidden=True)
@click.argument("job")
def command(job: str) -> None:
    """Tear JOB down after its run ended (called by the agent, not by people)."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.stop import finalize_job

    finalize_job(Runtime(), job)
