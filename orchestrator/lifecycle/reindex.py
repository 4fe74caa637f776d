"""`index rebuild`: the job index made again from the stacks of the backend (Pulumi state is the record).

For every job stack without a record, a record is rebuilt from what the backend keeps of the stack:
its tags (name, team, owner, cost center), its plain config (the normalized spec, saved with the stack
settings) and its state (``stack export`` through the engine: which resources are up, the stack's
outputs, when they were created). What the state cannot say comes from the target: a local job's
artifact store keeps the run's final status, so a torn-down job gets its outcome and run times back.
Records that exist are kept as they are (they know more than the state does). This starts one engine
per stack: it is slow on purpose, and only `index rebuild` does it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.cost.accrual import accrued_cost
from orchestrator.errors import TrainctlError
from orchestrator.jobs.layout import record_key
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.logs import get_logger
from orchestrator.targets import get_target
from orchestrator.vocabulary import RUN_OUTCOMES, JobState, RunState, StackConfig, Tag, config_key

REBUILT_REASON = "rebuilt from stack state by `trainctl index rebuild`"


@dataclass
class Rebuilt:
    """What `index rebuild` did: records written, records kept, stacks it could not read (job id -> why)."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "kept": self.kept, "failed": self.failed}


def rebuild_index(rt: Runtime) -> Rebuilt:
    """A record for every job stack of the backend that has none; see the module docstring."""
    log = get_logger(__name__)
    present = {info.key for info in rt.ledger.listing()}
    result = Rebuilt()
    for summary in rt.workspace.list_stacks():
        job_id = summary.name
        if record_key(job_id) in present:
            result.kept.append(job_id)
            continue
        try:
            record = record_from_stack(rt, job_id)
        except TrainctlError as e:
            result.failed[job_id] = e.message
            log.warning("index.rebuild_failed", job_id=job_id, error=e.message)
            continue
        if rt.ledger.store.write_if(record_key(job_id), record.model_dump_json(indent=1).encode(), version=None):
            result.written.append(job_id)
        else:  # written meanwhile by the job's own processes: theirs is newer
            result.kept.append(job_id)
    return result


def record_from_stack(rt: Runtime, job_id: str) -> JobRecord:
    """The job's record as its stack (tags, plain config, state) and its target tell it."""
    from orchestrator.engine.jobstack import JobStack

    config = _plain_config(rt, job_id)
    tags = {**_config_tags(config), **_stack_tags(rt, job_id)}
    with JobStack.open(rt.workspace, job_id) as stack:
        deployment = stack.export_state()["deployment"]
    resources: list[dict[str, Any]] = list(deployment.get("resources") or [])
    spec = _spec(config)
    target = str(spec.get("target") or _target_of(resources))
    created = _created(resources, deployment) or time.time()
    record = JobRecord(
        job_id=job_id,
        name=tags.get(Tag.JOB_NAME) or str(spec.get("name") or job_id.rsplit("-", 1)[0]),
        team=tags.get(Tag.TEAM) or str(spec.get("team") or "-"),
        owner=tags.get(Tag.OWNER) or str(spec.get("owner") or "-"),
        cost_center=tags.get(Tag.COST_CENTER) or spec.get("cost_center"),
        target=target,
        created=created,
        spec=spec,
        spec_path=config.get(config_key(StackConfig.SPEC_PATH)),
        reason=REBUILT_REASON,
    )
    record = _priced(rt, record)
    owned = [r for r in resources if not str(r.get("type", "")).startswith("pulumi:")]
    if owned:
        return _allocated(record, resources)
    return _torn_down(record)


def _allocated(record: JobRecord, resources: list[dict[str, Any]]) -> JobRecord:
    """A job whose resources are up: running as far as the state knows (`ls` then asks its target)."""
    root = next((r for r in resources if r.get("type") == "pulumi:pulumi:Stack"), {})
    outputs = dict(root.get("outputs") or {})
    target = get_target(record.target)
    record = record.model_copy(update={"state": JobState.RUNNING, "outputs": target.outputs_summary(outputs)})
    seen = target.observe(record)
    return record.model_copy(update={"started_at": seen.started_at or record.created})


def _torn_down(record: JobRecord) -> JobRecord:
    """A job whose stack holds nothing: ended; the target's final status says how, when it kept one."""
    record = record.model_copy(update={"torn_down": True})
    seen = get_target(record.target).observe(record)
    if seen.state in RUN_OUTCOMES:
        state, reason = RUN_OUTCOMES[seen.state], seen.reason or REBUILT_REASON
    elif seen.state == RunState.STOPPED:
        state, reason = JobState.CANCELLED, seen.reason or REBUILT_REASON
    else:
        state, reason = JobState.INTERRUPTED, f"{REBUILT_REASON}: how its run ended is unknown"
    started = seen.started_at
    ended = seen.ended_at or (started if started is not None else record.created)
    updated = record.model_copy(
        update={"state": state, "reason": reason, "exit_code": seen.exit_code, "started_at": started, "ended_at": ended}
    )
    updated.cost_usd = accrued_cost(updated, ended)
    return updated


def _priced(rt: Runtime, record: JobRecord) -> JobRecord:
    """The record with the prices its spec has today (the state keeps none); unpriced when they cannot be found."""
    from orchestrator.cost.pricing import price_job
    from orchestrator.spec.models import JobSpec

    try:
        spec = JobSpec.model_validate(record.spec)
        prices = price_job(spec, record.region, rt.settings).prices
    except (TrainctlError, ValueError):
        return record
    return record.model_copy(update={"prices": prices, "hourly_usd": prices.hourly_usd})


def _plain_config(rt: Runtime, job_id: str) -> dict[str, Any]:
    """The plain values of the stack's config, from its settings kept in the backend (no secret is read)."""
    import yaml

    from orchestrator.engine.stack_settings import settings_store

    store = settings_store(rt.settings.state_url)
    document = store.load(job_id) if store is not None else None
    loaded: Any = yaml.safe_load(document) if document else None
    config = loaded.get("config") if isinstance(loaded, dict) else None
    return {k: v for k, v in config.items() if not isinstance(v, dict) or k == "pulumi:tags"} if isinstance(config, dict) else {}


def _config_tags(config: dict[str, Any]) -> dict[str, str]:
    tags = config.get("pulumi:tags")
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def _stack_tags(rt: Runtime, job_id: str) -> dict[str, str]:
    """The stack's tags object (the engine's own, beside its checkpoint)."""
    from orchestrator.engine.stack_settings import TAGS_PREFIX
    from orchestrator.store import ENGINE_DIR, backend_store

    data = backend_store(rt.settings.state_url, ENGINE_DIR).read(f"{TAGS_PREFIX}/{job_id}.pulumi-tags")
    try:
        tags = json.loads(data).get("tags") if data else None
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def _spec(config: dict[str, Any]) -> dict[str, Any]:
    try:
        spec = json.loads(str(config.get(config_key(StackConfig.SPEC)) or "{}"))
    except ValueError:
        return {}
    return spec if isinstance(spec, dict) else {}


def _target_of(resources: list[dict[str, Any]]) -> str:
    return "aws" if any(str(r.get("type", "")).startswith("aws:") for r in resources) else "local"


def _created(resources: list[dict[str, Any]], deployment: dict[str, Any]) -> float | None:
    """When the stack's first resource was created, else when its state was last written."""
    stamps = [_epoch(r.get("created")) for r in resources]
    stamps.append(_epoch((deployment.get("manifest") or {}).get("time")))
    known = [s for s in stamps if s is not None]
    return min(known) if known else None


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
