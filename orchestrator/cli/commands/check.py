"""`trainctl check SPEC`: the policy pack over the offline plan; exit 3 on a mandatory violation."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import emit, notice, output_option, say


@click.command("check")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--policy-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A team's policy config (JSON or YAML) over the pack's defaults.",
)
@click.option("--target", type=click.Choice(["local", "aws"]), default=None, help="Override the spec's target.")
@output_option
def command(spec: str, policy_config: Path | None, target: str | None, output: str) -> None:
    """Run the policy pack over SPEC's offline plan (no engine, no credentials): CI for pull requests."""
    from orchestrator.policy.check import check_spec
    from orchestrator.spec.loader import load_spec

    loaded = load_spec(spec)
    if target:
        loaded = loaded.with_target(target)
    for line in loaded.notices:
        notice(line)
    report = check_spec(loaded, policy_config=policy_config)
    for line in report.notices:
        notice(line)
    for violation in report.violations:
        if not violation.mandatory:
            click.echo(f"warning: {violation.line()}", err=True)
    if report.blocked:
        report.raise_if_blocked()
    advisories = f", {len(report.violations)} advisory" if report.violations else ""
    line = f"ok: {report.job_name} passes every mandatory policy (team {report.team}, target {report.target}{advisories})"
    emit(report.to_dict(), lambda: say(line))
