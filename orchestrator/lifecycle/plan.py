"""`plan`: what `up` would create, what it costs at most, and (with the policy pack) whether it may.

Online, the engine previews the program on a throw-away stack (no lock, nothing created). Offline,
the program runs under Pulumi's mock runtime: no engine, no credentials, no network.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.compile import CompiledJob, compile_job, spec_region
from orchestrator.lifecycle.context import Runtime
from orchestrator.policy.check import CheckReport
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets import get_target

if TYPE_CHECKING:
    from orchestrator.policy.model import Violation


@dataclass(frozen=True)
class Plan:
    """The plan as a document (what `plan --output json` prints) and the policy verdict on it."""

    document: dict[str, Any]
    verdict: CheckReport


def plan_job(rt: Runtime, loaded: LoadedSpec, *, offline: bool, policy_config: Path | None = None) -> Plan:
    """What `up` would create (``resources``), what it costs at most (``estimate``, and for a spot job with
    on-demand fallback ``estimate_if_fallback``), and the policies' verdict.

    The target's preflight runs first (AWS: root volume, zones, quotas; offline: only what needs no
    network): the plan is of the spec it returns, with its ``notices`` and ``preflight`` facts.
    Offline, the plan and its verdict come from ``offline_verdict``, as for `trainctl check`; online, from
    an engine preview on a throw-away stack. Never raises on a policy violation: the caller prints the
    plan, then ``plan.verdict.raise_if_blocked()`` raises PolicyBlockedError (exit 3) as `check` does.
    """
    target = get_target(loaded.spec.target)
    checked = target.preflight(loaded, region=spec_region(loaded.spec, rt.settings), offline=offline)
    loaded = checked.loaded  # e.g. a root volume no smaller than the image: planned and priced as launched
    spec = loaded.spec
    job_id = f"{spec.name}-plan{secrets.token_hex(2)}"
    job = compile_job(loaded, job_id, rt.settings, read_env=False)
    assert job.pricing is not None  # compiled without stored prices: priced now
    estimate, fallback = job.pricing.estimate(), job.pricing.estimate_if_fallback()
    rule_notices: list[str] = []
    if offline:
        from orchestrator.policy.check import offline_verdict

        document, violations, rule_notices = offline_verdict(job, policy_config=policy_config)
    else:
        steps, violations = _preview(rt, job_id, job, target.program(job), policy_config)
        document = {"resources": steps}
    verdict = CheckReport(job_name=spec.name, team=spec.team, target=spec.target, violations=violations)
    return Plan(
        {
            "job_name": spec.name,
            "target": spec.target,
            "offline": offline,
            "notices": [*checked.notices, *job.notices, *rule_notices],
            "preflight": checked.facts,
            **document,
            "estimate": estimate.to_dict(),
            # A spot job that may fall back to on-demand: what it costs then (the cost policies judge this case).
            "estimate_if_fallback": fallback.to_dict() if fallback is not None else None,
            "policy": {"violations": [v.to_dict() for v in violations], "blocked": verdict.blocked},
        },
        verdict,
    )


def _preview(
    rt: Runtime, job_id: str, job: CompiledJob, program: Any, policy_config: Path | None
) -> tuple[list[dict[str, Any]], list[Violation]]:
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
