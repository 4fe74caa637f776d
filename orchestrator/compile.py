"""Compile: a validated spec + a job id -> everything the target's Pulumi program needs (pure data).

Decided here once, and stored in the job record: the job's tags (keys in orchestrator/vocabulary.py,
the backend's id among them), its region (orchestrator/region.py) and its hourly prices
(orchestrator/cost/pricing.py). The spec travels in stack config; secrets are read from the caller's
environment and handed to the engine as Pulumi secrets (never in plain state).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import tracing
from orchestrator.errors import InvalidInputError
from orchestrator.jobs.records import JobPrices, SweepMember
from orchestrator.region import decide_region
from orchestrator.settings import Settings
from orchestrator.spec.loader import LoadedSpec
from orchestrator.spec.models import JobSpec
from orchestrator.vocabulary import MANAGED_BY_VALUE, StackConfig, Tag, config_key
from orchestrator.workdir import MB, Selection, select_workdir

if TYPE_CHECKING:
    from orchestrator.agent.config import AgentConfig
    from orchestrator.cost.pricing import JobPricing


@dataclass(frozen=True)
class CompiledJob:
    """One job, ready to become a stack."""

    job_id: str
    spec: JobSpec
    source_dir: Path
    spec_path: str
    tags: dict[str, str]
    secret_values: dict[str, str] = field(repr=False)
    workdir: Selection = field(repr=False)  # what ships from code.workdir: one selection for every target
    home: Path
    prices: JobPrices
    grace_period_s: float
    region: str | None = None  # None: the local target
    # How its prices were decided, for estimates (None: compiled with the prices stored in its record).
    pricing: JobPricing | None = None
    # What earlier runs of this job already used: the limits (max_runtime, max_cost_usd) are for the
    # whole job, so a relaunched run gets only what is left.
    prior_runtime_s: float = 0.0
    prior_cost_usd: float = 0.0
    follow_links: bool = False  # links leaving code.workdir ship what they point to (setting follow_workdir_links)
    sweep: SweepMember | None = None  # the sweep the job belongs to (tag trainctl:sweep-id)
    # How the agent joins the trace of the operation that starts it (orchestrator.tracing.agent_context;
    # empty while tracing is off): not part of the job, decided per allocation.
    trace: dict[str, str] = field(default_factory=dict)

    @property
    def notices(self) -> list[str]:
        """What the user should know about this job before it runs (files left out of the workdir)."""
        return self.workdir.notices()

    @property
    def run_dir(self) -> Path:
        """Local scratch space of the job (its working directory lives below it)."""
        return self.home / "runs" / self.job_id

    @property
    def artifacts_dir(self) -> Path:
        """The local artifact store (retained on teardown)."""
        return self.home / "artifacts" / self.job_id

    @property
    def hourly_usd(self) -> float:
        """The hourly price of a run as requested (the spot price of a spot job)."""
        return self.prices.hourly_usd

    @property
    def on_demand_hourly_usd(self) -> float | None:
        """A spot job with on-demand fallback: the price it pays if it falls back (else None)."""
        return self.prices.on_demand_hourly_usd

    def run_price(self, outputs: dict[str, Any]) -> float:
        """The hourly price of the run the stack outputs describe (output ``purchased``: a spot job that
        fell back to on-demand pays the on-demand price)."""
        purchased = outputs.get("purchased")
        return self.prices.run_price(purchased if isinstance(purchased, str) else None)

    def agent_config(self, *, workdir: str, store_url: str, **target_specific: Any) -> AgentConfig:
        """The agent's instructions for this job; each target adds where it runs and its own hooks."""
        from orchestrator.agent.config import AgentConfig

        spec = self.spec
        return AgentConfig(
            job_id=self.job_id,
            workdir=workdir,
            run=spec.code.run,
            setup=spec.code.setup,
            store_url=store_url,
            env=dict(spec.env),
            secret_names=list(spec.secrets),
            checkpoint_path=spec.checkpoints.path,
            sync_interval_s=float(spec.checkpoints.sync_interval),
            keep_last=spec.checkpoints.keep_last,
            max_runtime_s=float(spec.limits.max_runtime) if spec.limits.max_runtime else None,
            max_failures=spec.restarts.max_failures,
            grace_period_s=self.grace_period_s,
            hourly_usd=self.hourly_usd,
            max_cost_usd=spec.limits.max_cost_usd,
            on_demand_hourly_usd=self.on_demand_hourly_usd,
            prior_runtime_s=self.prior_runtime_s,
            prior_cost_usd=self.prior_cost_usd,
            target=spec.target,
            trace=dict(self.trace),
            **target_specific,
        )

    def stack_config(self) -> dict[str, str]:
        """Plain stack config: the normalized spec and the job's identity."""
        import json

        return {
            config_key(StackConfig.JOB_ID): self.job_id,
            config_key(StackConfig.SPEC): json.dumps(self.spec.to_document(), sort_keys=True),
            config_key(StackConfig.SPEC_PATH): self.spec_path,
            config_key(StackConfig.SOURCE_DIR): str(self.source_dir),
        }

    def secret_config(self) -> dict[str, str]:
        """Secret stack config (none when the spec names no secrets): encrypted by the engine."""
        import json

        if not self.secret_values:
            return {}
        return {config_key(StackConfig.SECRETS): json.dumps(self.secret_values, sort_keys=True)}


def job_tags(spec: JobSpec, job_id: str, backend: str, sweep_id: str | None = None) -> dict[str, str]:
    """The tags every taggable resource (and the stack) carries; ``backend`` is the backend's id,
    ``sweep_id`` the sweep's of a job launched by `trainctl sweep`."""
    values = {
        Tag.JOB_ID: job_id,
        Tag.JOB_NAME: spec.name,
        Tag.TEAM: spec.team,
        Tag.OWNER: spec.owner,
        Tag.COST_CENTER: spec.cost_center,
        Tag.MANAGED_BY: MANAGED_BY_VALUE,
        Tag.BACKEND: backend,
        Tag.SWEEP_ID: sweep_id,
    }
    return {tag.value: value for tag, value in values.items() if value}


def spec_region(spec: JobSpec, settings: Settings) -> str | None:
    """The region ``spec`` runs in (what ``compile_job`` decides; a target's preflight needs it first)."""
    return decide_region(spec.target, spec.resources.region, settings.default_region)


def read_secrets(spec: JobSpec, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The values of ``spec.secrets`` from the caller's environment; all missing names in one error."""
    env = os.environ if environ is None else environ
    missing = [name for name in spec.secrets if name not in env]
    if missing:
        raise InvalidInputError(
            f"secrets not set in your environment: {', '.join(missing)}",
            hint="export them before `trainctl up` (they are stored encrypted in the job's stack)",
        )
    return {name: env[name] for name in spec.secrets}


def compile_job(
    loaded: LoadedSpec,
    job_id: str,
    settings: Settings,
    *,
    read_env: bool = True,
    region: str | None = None,
    prices: JobPrices | None = None,
    sweep: SweepMember | None = None,
) -> CompiledJob:
    """Everything the target needs for ``job_id``; raises InvalidInputError on a missing workdir or secret,
    PriceNotFoundError when the catalog cannot price it.

    ``region`` and ``prices``: what was decided when the job was first compiled (a relaunch passes its
    record's); without them they are decided now. ``sweep``: the sweep the job belongs to (its record's).
    """
    with tracing.span("compile", **{"trainctl.job_id": job_id}):
        return _compile(loaded, job_id, settings, read_env=read_env, region=region, prices=prices, sweep=sweep)


def _compile(
    loaded: LoadedSpec,
    job_id: str,
    settings: Settings,
    *,
    read_env: bool,
    region: str | None,
    prices: JobPrices | None,
    sweep: SweepMember | None,
) -> CompiledJob:
    spec = loaded.spec
    source = loaded.workdir
    if not source.is_dir():
        raise InvalidInputError(f"code.workdir {spec.code.workdir!r} is not a directory (resolved to {source})")
    selection = select_workdir(
        source, home=settings.home, follow_links=settings.follow_workdir_links, max_bytes=int(settings.snapshot_max_mb * MB)
    )
    secrets: dict[str, Any] = read_secrets(spec) if read_env else {name: "" for name in spec.secrets}
    if region is None:
        region = spec_region(spec, settings)
    pricing = None
    if prices is None:
        from orchestrator.cost.pricing import price_job

        pricing = price_job(spec, region, settings)
        prices = pricing.prices
    return CompiledJob(
        job_id=job_id,
        spec=spec,
        source_dir=source,
        spec_path=loaded.source,
        tags=job_tags(spec, job_id, settings.backend_id, sweep.sweep_id if sweep else None),
        secret_values=secrets,
        home=settings.home,
        prices=prices,
        grace_period_s=settings.grace_period_s,
        region=region,
        workdir=selection,
        follow_links=settings.follow_workdir_links,
        pricing=pricing,
        sweep=sweep,
    )
