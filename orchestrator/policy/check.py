"""`trainctl check`: the policy pack over a job's offline plan; no engine, no credentials, no network."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.policy.model import Violation
from orchestrator.policy.verdict import blocking, raise_if_blocked
from orchestrator.settings import Settings, get_settings
from orchestrator.spec.loader import LoadedSpec

if TYPE_CHECKING:
    from orchestrator.compile import CompiledJob

MANIFEST_TYPE = "pulumi-python:dynamic:Resource"


@dataclass(frozen=True)
class CheckReport:
    """The verdict on one spec: every violation, and whether a mandatory one blocks the job."""

    job_name: str
    team: str
    target: str
    violations: list[Violation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # e.g. files left out of code.workdir, team rules not applied

    @property
    def blocked(self) -> bool:
        return bool(blocking(self.violations))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``--output json``)."""
        return {
            "job_name": self.job_name,
            "team": self.team,
            "target": self.target,
            "blocked": self.blocked,
            "violations": [v.to_dict() for v in self.violations],
            "notices": self.notices,
        }

    def raise_if_blocked(self) -> None:
        """PolicyBlockedError (exit 3) listing each mandatory violation, if there is one."""
        raise_if_blocked(self.violations, job_name=self.job_name, team=self.team, target=self.target)


def check_spec(loaded: LoadedSpec, *, policy_config: Path | None = None, settings: Settings | None = None) -> CheckReport:
    """Compile the spec, plan it offline and run every policy over the plan with the effective config."""
    from orchestrator.compile import compile_job
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.offline_plan import offline_plan
    from orchestrator.policy.config import load_config, rules_for_job
    from orchestrator.policy.evaluate import check_plan
    from orchestrator.policy.pack import load_policies
    from orchestrator.targets import get_target

    settings = settings or get_settings()
    spec = loaded.spec
    policies = load_policies()
    # Offline: the owner decides team membership here; `plan` and `up` on AWS also check the caller.
    rules = rules_for_job(load_config(policy_config, policies=policies), spec.team, owner=spec.owner, log=False)
    job = compile_job(loaded, f"{spec.name}-check", settings, hourly_usd=Runtime(settings).hourly_price(spec), read_env=False)
    plan = with_manifest(offline_plan(job, get_target(spec.target).program(job)), job)
    violations = check_plan(plan, rules.config, team=spec.team, policies=policies)
    notices = [*([rules.notice] if rules.notice else []), *job.notices]
    return CheckReport(job_name=spec.name, team=spec.team, target=spec.target, violations=violations, notices=notices)


def with_manifest(plan: dict[str, Any], job: CompiledJob) -> dict[str, Any]:
    """``plan`` with the job manifest first (added when the target's program does not declare one)."""
    from orchestrator.targets.manifest import MANIFEST_NAME, manifest_props
    from orchestrator.vocabulary import MANIFEST_KIND

    resources = list(plan.get("resources") or [])
    if any(r.get("type") == MANIFEST_TYPE and (r.get("inputs") or {}).get("kind") == MANIFEST_KIND for r in resources):
        return plan
    manifest = {"type": MANIFEST_TYPE, "name": MANIFEST_NAME, "inputs": manifest_props(job)}
    return {**plan, "resources": [manifest, *resources]}
