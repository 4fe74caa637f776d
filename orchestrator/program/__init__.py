"""The `main` program of Pulumi.yaml: a job's program rebuilt from its stack, for the plain `pulumi` CLI.

trainctl runs every job's program inline through the Automation API. This package is the same program
for whoever operates a job stack with `pulumi` itself (`preview`, `refresh`, `destroy`, `pulumi/actions`):
it reads the job from the stack's config (``trainctl:jobId``, the normalized ``trainctl:spec``, where the
spec was) and, when the job index has its record, the region and prices decided when the job was first
compiled, then declares what the job's target declares. Secrets stay in the stack's config, which the
target's program reads itself. docs/ci.md shows the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import InvalidInputError
from orchestrator.vocabulary import CONFIG_NAMESPACE, StackConfig

if TYPE_CHECKING:
    from orchestrator.compile import CompiledJob


def run() -> None:
    """Declare the job of the current stack, as `up` did."""
    import pulumi

    from orchestrator.targets import get_target

    config = pulumi.Config(CONFIG_NAMESPACE)
    job_id = config.require(StackConfig.JOB_ID)
    if job_id != pulumi.get_stack():
        raise InvalidInputError(f"stack {pulumi.get_stack()} carries the config of job {job_id}: not a trainctl job stack")
    job = _compiled(job_id, json.loads(config.require(StackConfig.SPEC)), config.get(StackConfig.SPEC_PATH) or "job.yaml")
    get_target(job.spec.target).program(job)()


def _compiled(job_id: str, document: dict[str, object], spec_path: str) -> CompiledJob:
    """The job as `up` compiled it: from its record when the index has it (region, prices, sweep decided
    then), else from the spec in the stack's config. Secrets are not read here: they stay in the stack."""
    from orchestrator.compile import compile_job
    from orchestrator.jobs.index import Ledger
    from orchestrator.settings import get_settings
    from orchestrator.spec.loader import LoadedSpec
    from orchestrator.spec.models import JobSpec

    settings = get_settings()
    record = Ledger.of(settings).load(job_id)
    spec = record.job_spec() if record is not None else JobSpec.model_validate(document)
    loaded = LoadedSpec(spec=spec, source=spec_path, base_dir=Path(spec_path).resolve().parent)
    if record is None:
        return compile_job(loaded, job_id, settings, read_env=False)
    return compile_job(loaded, job_id, settings, read_env=False, region=record.region, prices=record.prices, sweep=record.sweep)
