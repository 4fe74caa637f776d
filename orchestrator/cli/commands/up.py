"""`trainctl up SPEC`: allocate and run a job (attached by default)."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import emit, is_json, notice, output_option, say


@click.command("up")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option("--detach", "-d", is_flag=True, help="Return once the job runs; it tears itself down when it ends.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (cloud targets ask on a terminal).")
@click.option("--new", is_flag=True, help="Always create a new job, even if one of this name is unfinished.")
@click.option("--target", type=click.Choice(["local", "aws"]), default=None, help="Override the spec's target.")
@click.option("--policy-config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="A team's policy config.")
@output_option
def command(spec: str, detach: bool, yes: bool, new: bool, target: str | None, policy_config: Path | None, output: str) -> None:
    """Allocate the job of SPEC and run it; resumes the newest unfinished job of that name."""
    import sys

    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.up import up_job
    from orchestrator.spec.loader import load_spec

    loaded = load_spec(spec)
    if target:
        loaded = loaded.with_target(target)
    for line in loaded.notices:
        notice(line)
    if loaded.spec.target != "local" and not yes and sys.stdin.isatty():
        click.confirm(f"Allocate cloud resources for {loaded.spec.name} on {loaded.spec.target}?", abort=True, err=True)
    out = sys.stderr.buffer if is_json() else sys.stdout.buffer
    result = up_job(
        Runtime(),
        loaded,
        detach=detach,
        new=new,
        say=lambda line: click.echo(line, err=True),
        output=out,
        policy_config=policy_config,
    )

    def text() -> None:
        if result.outcome == "finished":
            say(f"job {result.record.job_id} {result.record.state} ({result.record.reason})")

    emit({**result.record.summary(), "outcome": result.outcome}, text)
