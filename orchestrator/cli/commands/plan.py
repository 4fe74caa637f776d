"""`trainctl plan SPEC [--offline]`: the resources `up` would create, and what they cost at most."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from orchestrator.cli.output import emit, emit_document, notice, output_choice, say


@click.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option("--offline", is_flag=True, help="No engine, no credentials: run the program under Pulumi's mock runtime.")
@click.option("--target", type=click.Choice(["local", "aws"]), default=None, help="Override the spec's target.")
@click.option("--policy-config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="A team's policy config.")
@output_choice("text", "json", "markdown")
def command(spec: str, offline: bool, target: str | None, policy_config: Path | None, output: str) -> None:
    """Preview SPEC: every resource, its price per hour and the maximum cost (markdown: for a pull request)."""
    from orchestrator.cli.markdown import plan_markdown
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.plan import plan_job
    from orchestrator.spec.loader import load_spec

    loaded = load_spec(spec)
    if target:
        loaded = loaded.with_target(target)
    for line in loaded.notices:
        notice(line)
    plan = plan_job(Runtime(), loaded, offline=offline, policy_config=policy_config)
    for line in plan.document["notices"]:
        notice(line)
    emit(plan.document, lambda: _render(plan.document), markdown=lambda: emit_document(plan_markdown(plan.document)))
    plan.verdict.raise_if_blocked()  # the plan is printed first; then exit 3, as `trainctl check` does


def _render(plan: dict[str, Any]) -> None:
    mode = "offline (mock runtime)" if plan["offline"] else "engine preview"
    say(f"plan for {plan['job_name']} on {plan['target']} ({mode}):")
    for resource in plan["resources"]:
        op = resource.get("op", "create")
        say(f"  {'+' if op == 'create' else op} {resource['name']:28} {resource['type']}")
    root = (plan.get("preflight") or {}).get("root_volume")
    if root:
        asked = ""
        if root["effective_gb"] != root["requested_gb"]:
            asked = f" (resources.disk_gb {root['requested_gb']}: {root['basis']})"
        say(f"root volume: {root['effective_gb']} GiB gp3{asked}")
    nodes = (plan.get("preflight") or {}).get("nodes") or []
    if nodes:
        say(f"nodes: {len(nodes)}, launched together in one {nodes[0]['placement_group']} placement group, one security group")
    for node in nodes:
        say(
            f"  node {node['rank']}: {node['instance_type']} {node['market']}, {node['root_volume_gb']} GiB root, "
            f"{node['network_interface']}, {node['role']}"
        )
    est = plan["estimate"]
    say("cost:")
    for line in est["lines"]:
        most = "unbounded" if line["max_usd"] is None else f"max ${line['max_usd']:.4f}"
        item = f"{line['item']}, {line['quantity']:g} GB" if line["unit"] == "GB-month" else line["item"]
        say(f"  {item:44} ${line['hourly_usd']:.4f}/h  {most}")
    total = "unbounded (set limits.max_runtime)" if est["max_usd"] is None else f"${est['max_usd']:.4f}"
    as_of = f", prices as of {est['prices_as_of']}" if est.get("prices_as_of") else ""
    say(f"  total: ${est['hourly_usd']:.4f}/h, at most {total} {est['currency']}{as_of}")
    worst = plan.get("estimate_if_fallback")
    if worst:
        most = "unbounded" if worst["max_usd"] is None else f"${worst['max_usd']:.4f}"
        say(f"  if spot falls back to on-demand: ${worst['hourly_usd']:.4f}/h, at most {most} {worst['currency']}")
    violations = plan["policy"]["violations"]
    say("policy: " + ("no violations" if not violations else f"{len(violations)} violation(s)"))
    for v in violations:
        fix = f" (fix: {v['fix']})" if v["fix"] else ""
        say(f"  {v['policy']} [{v['enforcement']}] {v['resource'] or 'stack'}: {v['message']}{fix}")
