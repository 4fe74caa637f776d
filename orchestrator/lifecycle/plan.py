"""`plan`: what `up` would create, what it costs at most, and (with the policy pack) whether it may.

Online, the engine previews the program on a throw-away stack (no lock, nothing created). Offline,
the program runs under Pulumi's mock runtime: no engine, no credentials, no network.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from orchestrator.compile import compile_job
from orchestrator.cost.billing import Estimate, estimate, estimate_local
from orchestrator.lifecycle.context import Runtime
from orchestrator.spec.loader import LoadedSpec
from orchestrator.spec.models import JobSpec
from orchestrator.targets import get_target


def estimate_job(rt: Runtime, spec: JobSpec, *, on_demand: bool = False) -> Estimate:
    """Hourly price and maximum cost (hourly x max_runtime, plus storage) of ``spec`` (``on_demand``:
    as if its spot request fell back to on-demand)."""
    max_runtime = float(spec.limits.max_runtime) if spec.limits.max_runtime else None
    if spec.target == "local":
        return estimate_local(rt.settings.local_hourly_usd, max_runtime)
    from orchestrator.cost.catalog import current_catalog

    resources = spec.resources
    assert resources.instance_type is not None
    return estimate(
        current_catalog(),
        region=resources.region or rt.settings.default_region,
        instance_type=resources.instance_type,
        spot=resources.spot and not on_demand,
        disk_gb=resources.disk_gb,
        max_runtime_s=max_runtime,
    )


def plan_job(rt: Runtime, loaded: LoadedSpec, *, offline: bool, policy_config: Path | None = None) -> dict[str, Any]:
    """The plan as a document: ``resources``, ``estimate``, ``policy`` verdicts and the job's identity.

    The target's preflight runs first (AWS: root volume, zones, quotas; offline: only what needs no
    network): the plan is of the spec it returns, with its ``notices`` and ``preflight`` facts.

    Raises PolicyBlockedError (exit 3) after the plan is complete when a mandatory policy says no;
    the error carries the plan so that it is still printed.
    """
    target = get_target(loaded.spec.target)
    checked = target.preflight(loaded, region=loaded.spec.resources.region or rt.settings.default_region, offline=offline)
    loaded = checked.loaded  # e.g. a root volume no smaller than the image: planned and priced as launched
    spec = loaded.spec
    job_id = f"{spec.name}-plan{secrets.token_hex(2)}"
    price = estimate_job(rt, spec)
    fallback = rt.fallback_price(spec)
    job = compile_job(loaded, job_id, rt.settings, hourly_usd=price.hourly_usd, on_demand_hourly_usd=fallback, read_env=False)
    program = target.program(job)
    if offline:
        from orchestrator.lifecycle.offline_plan import offline_plan
        from orchestrator.policy.config import load_config, rules_for_job
        from orchestrator.policy.evaluate import check_plan

        document = offline_plan(job, program)
        rules = rules_for_job(load_config(policy_config), spec.team, owner=spec.owner)  # offline: owner only
        violations = check_plan(document, rules.config, team=spec.team)
    else:
        steps, violations = _preview(rt, job_id, job, program, policy_config)
        document = {"resources": steps}
    return {
        "job_name": spec.name,
        "target": spec.target,
        "offline": offline,
        "notices": [*checked.notices, *job.notices],
        "preflight": checked.facts,
        **document,
        "estimate": price.to_dict(),
        # A spot job that may fall back to on-demand: what it costs then (the cost policies judge this case).
        "estimate_if_fallback": estimate_job(rt, spec, on_demand=True).to_dict() if fallback is not None else None,
        "policy": {"violations": [v.to_dict() for v in violations], "blocked": any(v.mandatory for v in violations)},
    }


def _preview(
    rt: Runtime, job_id: str, job: Any, program: Any, policy_config: Path | None
) -> tuple[list[dict[str, Any]], list[Any]]:
    from orchestrator.engine.jobstack import JobStack
    from orchestrator.errors import TrainctlError
    from orchestrator.policy import PolicyCollector, engine_policy_args

    steps: list[dict[str, Any]] = []

    def collect(event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None or pre.metadata.type == "pulumi:pulumi:Stack":
            return
        meta = pre.metadata
        steps.append({"op": str(getattr(meta.op, "value", meta.op)), "type": meta.type, "name": meta.urn.rsplit("::", 1)[-1]})

    packs, configs = engine_policy_args(policy_config, team=job.spec.team, owner=job.spec.owner, target=job.spec.target)
    policies = PolicyCollector(forward=collect)
    with JobStack.create(rt.workspace, job_id, program) as stack:
        try:
            stack.configure(job.stack_config(), job.secret_config(), tags=job.tags)
            try:
                stack.preview(on_event=policies, policy_packs=packs, policy_configs=configs)
            except TrainctlError:
                if not any(v.mandatory for v in policies.violations()):
                    raise  # a real failure, not the engine refusing on policy grounds
        finally:
            rt.workspace.remove_stack(job_id)
    return steps, policies.violations()
