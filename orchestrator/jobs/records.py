"""Job records: a fast index of jobs in ``$TRAINCTL_HOME/jobs``, rebuildable from Pulumi state.

Strict input, lenient storage: records tolerate unknown fields so that older and newer trainctl
versions can read each other's files. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from orchestrator.errors import InvalidInputError, NotFoundError
from orchestrator.vocabulary import UNFINISHED_STATES, JobState


def new_job_id(name: str) -> str:
    """``<name>-<6 hex>``: the job id and the stack name."""
    return f"{name}-{secrets.token_hex(3)}"


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
    started_at: float | None = None
    ended_at: float | None = None
    hourly_usd: float = 0.0
    cost_usd: float | None = None
    spec_path: str | None = None
    spec: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    torn_down: bool = False
    # Earlier runs of this job (before a preemption relaunch or a resume): (started, ended, hourly_usd).
    # ``started_at``/``ended_at``/``hourly_usd`` describe the current (latest) run.
    past_runs: list[tuple[float, float, float]] = []

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
            "created": _iso(self.created),
            "started": _iso(self.past_runs[0][0] if self.past_runs else self.started_at),
            "ended": _iso(self.ended_at),
            "runs": len(self.runs(now)),
            "runtime_s": round(self.runtime_s(now), 3),
            "cost_usd": self.cost_usd if self.cost_usd is not None else accrued_cost(self, now),
            "exit_code": self.exit_code,
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Ledger:
    """The records directory."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "jobs"

    def save(self, record: JobRecord) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{record.job_id}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(record.model_dump_json(indent=1))
        Path(tmp).replace(self.dir / f"{record.job_id}.json")

    def load(self, job_id: str) -> JobRecord | None:
        try:
            return JobRecord.model_validate_json((self.dir / f"{job_id}.json").read_text())
        except FileNotFoundError:
            return None

    def delete(self, job_id: str) -> None:
        (self.dir / f"{job_id}.json").unlink(missing_ok=True)

    def all(self) -> list[JobRecord]:
        """Every record, newest first. Unreadable files are skipped, never fatal."""
        if not self.dir.is_dir():
            return []
        records = []
        for path in self.dir.glob("*.json"):
            try:
                records.append(JobRecord.model_validate(json.loads(path.read_bytes())))
            except (OSError, ValueError):
                continue
        return sorted(records, key=lambda r: r.created, reverse=True)

    def resolve(self, ref: str) -> JobRecord:
        """A job by id, or the newest job of that name."""
        exact = self.load(ref) if "/" not in ref and ref not in (".", "..") else None
        if exact is not None:
            return exact
        matches = [r for r in self.all() if r.name == ref]
        if not matches:
            raise NotFoundError(f"no job {ref!r}", hint="`trainctl ls` lists jobs; use the job id or the job name")
        return matches[0]

    def newest_unfinished(self, name: str) -> JobRecord | None:
        """The newest job of ``name`` that has not reached a final state."""
        for record in self.all():
            if record.name == name and record.state in UNFINISHED_STATES:
                return record
        return None


def validate_state(state: str) -> JobState:
    """``state`` as a JobState; InvalidInputError (exit 2) naming the known states otherwise."""
    try:
        return JobState(state)
    except ValueError:
        known = ", ".join(s.value for s in JobState)
        raise InvalidInputError(f"unknown job state {state!r}", hint=f"states: {known}") from None
