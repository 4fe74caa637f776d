"""`plan`: what `up` would create, what it costs at most, and (with the policy pack) whether it may.

Online, the engine previews the program on a throw-away stack (no lock, nothing created). Offline,
the program runs under Pulumi's mock runtime: no engine, no credentials, no network.
"""

from __future__ import annotations

import secrets
from typing import Any

from orchestrator.compile import compile_job
from orchestrator.cost.billing import Estimate, estimate, estimate_local
from orchestrator.lifecycle.context import Runtime
from orchestrator.spec.loader import LoadedSpec
from orchestrator.spec.models import JobSpec
from orchestrator.targets import get_target


def estimate_job(rt: Runtime, spec: JobSpec) -> Estimate:
    """Hourly price and maximum cost (hourly x max_runtime, plus storage) of ``spec``."""
    max_runtime = float(spec.limits.max_runtime) if spec.limits.max_runtime else None
    if spec.target == "local":
        return estimate_local(rt.settings.local_hourly_usd, max_runtime)
    from orchestrator.cost.catalog import load_catalog

    resources = spec.resources
    assert resources.instance_type is not None
    return estimate(
        load_catalog(),
        region=resources.region or rt.settings.default_region,
        instance_type=resources.instance_type,
        spot=resources.spot,
        disk_gb=resources.disk_gb,
        max_runtime_s=max_runtime,
    )


def plan_job(rt: Runtime, loaded: LoadedSpec, *, offline: bool) -> dict[str, Any]:
    """The plan as a document: ``resources``, ``estimate`` and the job's identity."""
    spec = loaded.spec
    job_id = f"{spec.name}-plan{secrets.token_hex(2)}"
    price = estimate_job(rt, spec)
    job = compile_job(loaded, job_id, rt.settings, hourly_usd=price.hourly_usd, read_env=False)
    program = get_target(spec.target).program(job)
    if offline:
        from orchestrator.lifecycle.offline_plan import offline_plan

        document = offline_plan(job, program)
    else:
        document = {"resources": _preview(rt, job_id, job, program)}
    return {"job_name": spec.name, "target": spec.target, "offline": offline, **document, "estimate": price.to_dict()}


def _preview(rt: Runtime, job_id: str, job: Any, program: Any) -> list[dict[str, Any]]:
    from orchestrator.engine import automation

    steps: list[dict[str, Any]] = []

    def collect(event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None or pre.metadata.type == "pulumi:pulumi:Stack":
            return
        meta = pre.metadata
        steps.append({"op": str(getattr(meta.op, "value", meta.op)), "type": meta.type, "name": meta.urn.rsplit("::", 1)[-1]})

    stack = rt.workspace.stack(job_id, program, create=True)
    try:
        automation.set_config(stack, job.stack_config(), job.secret_config(), tags=job.tags)
        automation.preview(stack, on_event=collect)
    finally:
        rt.workspace.remove_stack(job_id)
    return steps
