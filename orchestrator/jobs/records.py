"""Job records: what trainctl remembers of each job (kept in the job index, orchestrator/jobs/index.py).

Strict input, lenient storage: records tolerate unknown fields so that older and newer trainctl
versions can read each other's files, but trainctl itself reads only the fields ``JobRecord`` declares.
A field added later has a default, or (region) one documented fallback for records written before it
existed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator

from orchestrator.errors import InvalidInputError
from orchestrator.region import decide_region
from orchestrator.vocabulary import JobState, name_lock_key

if TYPE_CHECKING:
    from orchestrator.spec.models import JobSpec


def new_job_id(name: str) -> str:
    """``<name>-<6 hex>``: the job id and the stack name."""
    return f"{name}-{secrets.token_hex(3)}"


class JobPrices(BaseModel):
    """The hourly prices decided when the job was compiled (orchestrator/cost/pricing.py)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    hourly_usd: float  # what a run costs per hour as requested (every node): the spot price of a spot job
    on_demand_hourly_usd: float | None = None  # a spot job with on-demand fallback: what it pays if it falls back
    nodes: int = 1  # the instances the prices above count (a multi-node AWS job's N; a local job's machine is 1)

    def run_price(self, purchased: str | None) -> float:
        """The hourly price of a run bought as ``purchased`` (the stack output: a spot job that fell back
        to on-demand pays the on-demand price)."""
        if purchased == "on-demand" and self.on_demand_hourly_usd is not None:
            return self.on_demand_hourly_usd
        return self.hourly_usd


class SweepMember(BaseModel):
    """The sweep a job belongs to (`trainctl sweep`): the sweep's id and the grid point the job runs."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sweep_id: str
    params: dict[str, str]  # spec field path -> the value as given on the command line (``env.LR`` -> ``0.1``)

    @property
    def point_digest(self) -> str:
        """A short name of the point (sweep and values), for the lock `up` takes while it picks the job."""
        import hashlib
        import json

        document = json.dumps([self.sweep_id, sorted(self.params.items())])
        return hashlib.sha256(document.encode()).hexdigest()[:12]


class JobRecord(BaseModel):
    """What trainctl remembers of one job between commands."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    name: str
    team: str
    owner: str
    cost_center: str | None = None
    target: str
    state: JobState = JobState.PROVISIONING
    reason: str | None = None
    exit_code: int | None = None
    created: float
    started_by: str | None = None  # the login and host whose `up` created the job ("alice@ws-12"); None before it was kept
    started_at: float | None = None
    ended_at: float | None = None
    # Decided once, when the job was compiled (orchestrator/compile.py): where it runs (None: local) and
    # its prices (None: a record written before prices were recorded; a relaunch then prices it anew).
    region: str | None = None
    prices: JobPrices | None = None
    hourly_usd: float = 0.0  # the current run's price (on-demand after a spot fallback)
    cost_usd: float | None = None
    spec_path: str | None = None
    spec: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    torn_down: bool = False
    purged: bool = False  # `down --purge` deleted its artifacts
    preemptions: int = 0  # spot preemptions recovered so far (restarts.max_preemptions bounds them)
    # Why a stop of the current run was asked for (a signal to an attached `up`), until the run's teardown
    # ends: `recover` finishes such a stop instead of taking a live agent for a job that keeps running.
    stop_requested: str | None = None
    # Earlier runs of this job (before a preemption relaunch or a resume): (started, ended, hourly_usd).
    # ``started_at``/``ended_at``/``hourly_usd`` describe the current (latest) run.
    past_runs: list[tuple[float, float, float]] = []
    # The newest values the training script reported (TRAINCTL_METRICS_FILE), kept when the job ends; a
    # running job's live values are in its agent's status (``lifecycle.query.script_metrics``).
    metrics: dict[str, float] = {}
    sweep: SweepMember | None = None  # set on the jobs of a sweep
    # The trace of the last traced command that changed this record (orchestrator/tracing): its id
    # finds the whole operation, engine and agent included, in the trace backend.
    trace_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _region_of_older_records(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "region" not in data:
            return {**data, "region": older_record_region(data)}
        return data

    def job_spec(self) -> JobSpec:
        """The spec the job was compiled from (stored normalized, every default written out)."""
        from orchestrator.spec.models import JobSpec

        return JobSpec.model_validate(self.spec)

    def runs(self, now: float | None = None) -> list[tuple[float, float, float]]:
        """Every run that started, as (started, ended or now, hourly_usd), oldest first."""
        runs = list(self.past_runs)
        if self.started_at is not None:
            end = self.ended_at if self.ended_at is not None else (now or time.time())
            runs.append((self.started_at, max(self.started_at, end), self.hourly_usd))
        return runs

    def runtime_s(self, now: float | None = None) -> float:
        """Seconds the compute has run over all runs (so far, for a running job)."""
        return sum(end - start for start, end, _ in self.runs(now))

    def with_run_closed(self, now: float) -> JobRecord:
        """Before a new run starts: the current run, if it started, joins ``past_runs``."""
        if self.started_at is None:
            return self
        end = self.ended_at if self.ended_at is not None else now
        closed = (self.started_at, max(self.started_at, end), self.hourly_usd)
        return self.model_copy(update={"past_runs": [*self.past_runs, closed], "started_at": None, "ended_at": None})

    @property
    def name_lock(self) -> str:
        """The key of the lock `up` holds on this job's name (its sweep point's own, for a sweep's job)."""
        return name_lock_key(self.name, self.sweep.point_digest if self.sweep else None)

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """The row `ls`/`status --output json` print."""
        from orchestrator.cost.accrual import accrued_cost

        return {
            "job_id": self.job_id,
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "target": self.target,
            "team": self.team,
            "owner": self.owner,
            "cost_center": self.cost_center,
            "started_by": self.started_by,
            "created": _iso(self.created),
            "started": _iso(self.past_runs[0][0] if self.past_runs else self.started_at),
            "ended": _iso(self.ended_at),
            "runs": len(self.runs(now)),
            "runtime_s": round(self.runtime_s(now), 3),
            "cost_usd": self.cost_usd if self.cost_usd is not None else accrued_cost(self, now),
            "exit_code": self.exit_code,
            "sweep_id": self.sweep.sweep_id if self.sweep else None,
        }


def who_starts() -> str:
    """The login and host of this process, as a new record's ``started_by`` ("alice@ws-12")."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def older_record_region(document: Mapping[str, Any]) -> str | None:
    """The region of a record written before records stored it (it has no ``region`` key): decided as
    trainctl decides it at compile time, from the stored spec's ``resources.region`` and the default
    region setting. The only fallback for a missing region; every reader gets it through the record."""
    from orchestrator.settings import get_settings

    spec = document.get("spec")
    resources = spec.get("resources") if isinstance(spec, Mapping) else None
    requested = resources.get("region") if isinstance(resources, Mapping) else None
    target = document.get("target")
    return decide_region(str(target), requested if isinstance(requested, str) else None, get_settings().default_region)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def same_point(a: SweepMember | None, b: SweepMember | None) -> bool:
    """Whether two jobs run the same point of the same sweep (or both belong to no sweep)."""
    if a is None or b is None:
        return a is b
    return a.sweep_id == b.sweep_id and a.params == b.params


def validate_state(state: str) -> JobState:
    """``state`` as a JobState; InvalidInputError (exit 2) naming the known states otherwise."""
    try:
        return JobState(state)
    except ValueError:
        known = ", ".join(s.value for s in JobState)
        raise InvalidInputError(f"unknown job state {state!r}", hint=f"states: {known}") from None
