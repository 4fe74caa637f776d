"""The policy pack over a job's offline plan, with no engine, credentials or network: `trainctl check`,
and `trainctl plan --offline` through the same function (``offline_verdict``)."""

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
    """Preflight the spec offline, compile it (secrets not read) and judge its offline plan (``offline_verdict``),
    as `plan --offline` does."""
    from orchestrator.compile import compile_job, spec_region
    from orchestrator.targets import get_target

    settings = settings or get_settings()
    checked = get_target(loaded.spec.target).preflight(loaded, region=spec_region(loaded.spec, settings), offline=True)
    spec = checked.loaded.spec  # as `plan --offline` judges it: e.g. the root volume as launched
    job = compile_job(checked.loaded, f"{spec.name}-check", settings, read_env=False)
    _, violations, rule_notices = offline_verdict(job, policy_config=policy_config)
    notices = [*rule_notices, *checked.notices, *job.notices]
    return CheckReport(job_name=spec.name, team=spec.team, target=spec.target, violations=violations, notices=notices)


def offline_verdict(job: CompiledJob, *, policy_config: Path | None) -> tuple[dict[str, Any], list[Violation], list[str]]:
    """Plan ``job`` offline (its target's program under Pulumi's mock runtime, the job manifest first) and
    run every policy of the pack over the plan with the effective config for the job's team (team rules
    only for a member: the owner decides membership offline).

    Returns the plan, every violation (mandatory or advisory) and why team rules were left out, if they
    were; raises nothing on a violation: the caller decides when to raise (``raise_if_blocked``, the same
    error for `check` and `plan --offline`).
    """
    from orchestrator.lifecycle.offline_plan import offline_plan
    from orchestrator.policy.config import load_config, rules_for_job
    from orchestrator.policy.evaluate import check_plan
    from orchestrator.policy.pack import load_policies
    from orchestrator.targets import get_target

    policies = load_policies()
    # Offline: the owner decides team membership here; `plan` and `up` on AWS also check the caller.
    rules = rules_for_job(load_config(policy_config, policies=policies), job.spec.team, owner=job.spec.owner, log=False)
    plan = with_manifest(offline_plan(job, get_target(job.spec.target).program(job)), job)
    violations = check_plan(plan, rules.config, team=job.spec.team, policies=policies)
    return plan, violations, [rules.notice] if rules.notice else []


def with_manifest(plan: dict[str, Any], job: CompiledJob) -> dict[str, Any]:
    """``plan`` with the job manifest first (added when the target's program does not declare one)."""
    from orchestrator.targets.manifest import MANIFEST_NAME, manifest_props
    from orchestrator.vocabulary import MANIFEST_KIND

    resources = list(plan.get("resources") or [])
    if any(r.get("type") == MANIFEST_TYPE and (r.get("inputs") or {}).get("kind") == MANIFEST_KIND for r in resources):
        return plan
    manifest = {"type": MANIFEST_TYPE, "name": MANIFEST_NAME, "inputs": manifest_props(job)}
    return {**plan, "resources": [manifest, *resources]}
