"""`trainctl check SPEC`: the policy pack over the offline plan; exit 3 on a mandatory violation."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import emit, emit_document, notice, output_choice, say


@click.command("check")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--policy-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A team's policy config (JSON or YAML) over the pack's defaults.",
)
@click.option("--target", type=click.Choice(["local", "aws"]), default=None, help="Override the spec's target.")
@output_choice("text", "json", "markdown")
def command(spec: str, policy_config: Path | None, target: str | None, output: str) -> None:
    """Run the policy pack over SPEC's offline plan (no engine, no credentials): CI for pull requests.

    With --output markdown: the offline plan's summary (resources, estimate, verdicts), printed blocked or not."""
    from orchestrator.spec.loader import load_spec

    loaded = load_spec(spec)
    if target:
        loaded = loaded.with_target(target)
    for line in loaded.notices:
        notice(line)
    if output == "markdown":
        _markdown(loaded, policy_config)
        return
    from orchestrator.policy.check import check_spec

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


def _markdown(loaded: object, policy_config: Path | None) -> None:
    """The same verdict as the text and JSON outputs, from the offline plan `plan --offline` makes."""
    from orchestrator.cli.markdown import plan_markdown
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.plan import plan_job
    from orchestrator.spec.loader import LoadedSpec

    assert isinstance(loaded, LoadedSpec)
    plan = plan_job(Runtime(), loaded, offline=True, policy_config=policy_config)
    for line in plan.document["notices"]:
        notice(line)
    emit_document(plan_markdown(plan.document, command="check"))
    plan.verdict.raise_if_blocked()
