"""`trainctl watch JOB` (hidden): started by `up --detach` to relaunch after preemptions and tear down at the end."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("watch", hidden=True)
@click.argument("job")
@click.option("--policy-config", type=click.Path(dir_okay=False, path_type=Path), default=None)
def command(job: str, policy_config: Path | None) -> None:
    """Watch the detached JOB until it is torn down (started by `up --detach`, not by people)."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.watch import watch_job

    watch_job(Runtime(), job, policy_config)
