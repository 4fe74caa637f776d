"""Read-only views: status of one job, the job list, and a job's output.

These read the job records (and, for running jobs, the agent's status): no engine process starts,
so `ls` stays fast however many jobs there are.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InvalidInputError
from orchestrator.jobs.locks import is_locked
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.targets import get_target
from orchestrator.targets.base import LogFollower, Target, node_count
from orchestrator.vocabulary import ACTIVE_STATES, RUN_ALIVE, RUN_OUTCOMES, JobState, RunState, job_lock_key

if TYPE_CHECKING:
    from orchestrator.settings import Settings


def current(rt: Runtime, record: JobRecord) -> JobRecord:
    """The record with a running job's live state folded in (and saved when it changed).

    A job left ``provisioning`` by a killed `up` (no operation holds its lock any more) is
    promoted to what its agent says: running, or ended. A job whose agent has written no status
    reads ``provisioning``, and ``interrupted`` once that has lasted ``agent_start_timeout_s``.
    """
    if record.state == JobState.PROVISIONING:
        if is_locked(rt.settings.home, job_lock_key(record.job_id)) or is_locked(rt.settings.home, record.name_lock):
            return record
        seen = get_target(record.target).observe(record)
        if seen.state == RunState.PROVISIONING:
            return record
        if seen.state != RunState.GONE:
            record = record.model_copy(update={"state": JobState.RUNNING, "started_at": record.started_at or seen.started_at})
            record = rt.ledger.save_if_unchanged(record)  # a teammate's change made meanwhile wins
            if record.state != JobState.RUNNING:
                return record
    elif record.state != JobState.RUNNING:
        return record
    seen = get_target(record.target).observe(record)
    if seen.state == RunState.PROVISIONING:
        return record.model_copy(update={"state": JobState.PROVISIONING, "reason": seen.reason})
    if seen.state in RUN_ALIVE:
        return record
    state = RUN_OUTCOMES.get(seen.state, JobState.INTERRUPTED)
    updated = record.model_copy(
        update={
            "state": state,
            "reason": seen.reason,
            "exit_code": seen.exit_code,
            "ended_at": seen.ended_at or time.time(),
            "metrics": seen.metrics or record.metrics,
        }
    )
    return rt.ledger.save_if_unchanged(updated)


def job_status(rt: Runtime, ref: str) -> dict[str, Any]:
    """One job as a dict (the `status JOB --output json` object)."""
    record = current(rt, rt.ledger.resolve(ref))
    summary = record.summary()
    summary["torn_down"] = record.torn_down
    summary["next"] = next_step(record)
    summary["outputs"] = record.outputs
    summary["metrics"] = record.metrics
    summary["trace_id"] = record.trace_id
    if record.state in ACTIVE_STATES:
        seen = get_target(record.target).observe(record)
        summary["newest_checkpoint"] = seen.newest_checkpoint
        summary["heartbeat_age_s"] = round(time.time() - seen.updated_at, 1) if seen.updated_at else None
        summary["metrics"] = seen.metrics or record.metrics
        if seen.nodes:
            now = time.time()
            summary["nodes"] = [view.summary(now) for view in seen.nodes]
    return summary


def script_metrics(rt: Runtime, ref: str) -> dict[str, float]:
    """The newest metrics the training script of job ``ref`` (an id, or a name for its newest job) reported
    through ``TRAINCTL_METRICS_FILE``, name -> number; empty when it reported none. A running job's live
    values come from its agent's status; an ended job's were kept in its record when it ended. No engine
    process starts."""
    record = current(rt, rt.ledger.resolve(ref))
    if record.state in ACTIVE_STATES:
        live = get_target(record.target).observe(record).metrics
        if live:
            return live
    return dict(record.metrics)


def next_step(record: JobRecord) -> str | None:
    """What a user would run next for this job (None: nothing is left to do)."""
    job = record.job_id
    if record.state in ACTIVE_STATES:
        return f"trainctl logs {job} -f  (follow it), or trainctl cancel {job}"
    if record.state == JobState.INTERRUPTED:
        spec = record.spec_path or "SPEC"
        if record.sweep is not None:  # a plain `up` never resumes a sweep's job: the sweep does
            again = f"trainctl sweep {spec} --param ... (the same options as sweep {record.sweep.sweep_id})"
            return f"{again}  (resumes it from its newest checkpoint), or trainctl down {job}"
        return f"trainctl up {spec}  (resumes it from its newest checkpoint), or trainctl down {job}"
    if not record.torn_down:
        return f"trainctl down {job}  (its stack still exists)"
    return None


def list_jobs(
    rt: Runtime,
    *,
    state: str | None = None,
    limit: int | None = None,
    sweep: str | None = None,
    owner: str | None = None,
    team: str | None = None,
) -> list[dict[str, Any]]:
    """Every job of the backend (of the sweep ``sweep`` only, when given), newest first (the `ls --output json`
    array); ``owner``/``team`` keep only theirs."""
    now = time.time()
    records = rt.ledger.all() if sweep is None else rt.ledger.of_sweep(sweep)
    records = [r for r in records if owner in (None, r.owner) and team in (None, r.team)]
    rows = [current(rt, r).summary(now) for r in records]
    if state:
        rows = [r for r in rows if r["state"] == state]
    return rows[:limit] if limit else rows


def me(settings: Settings, owner: str | None = None) -> str:
    """Who `--mine` means: the ``owner`` setting (TRAINCTL_OWNER); exit 2 when it is unset or ``owner`` also names one."""
    if owner is not None:
        raise InvalidInputError("--mine and --owner name the owner twice", hint="use one of them")
    if not settings.owner:
        raise InvalidInputError(
            "--mine needs to know who you are",
            hint="set TRAINCTL_OWNER (or `owner` in config.toml) to the owner your specs name, e.g. alice@example.com",
        )
    return settings.owner


def job_output(rt: Runtime, ref: str, *, follow_output: bool, node: int | None = 0) -> Iterator[bytes]:
    """The job's output (``node``: that node's, rank 0 by default; None: every node's, each line
    prefixed ``[node K]``); with ``follow_output`` keep yielding until the run ends."""
    record = rt.ledger.resolve(ref)
    target = get_target(record.target)
    nodes = node_count(record)
    if node is not None and not 0 <= node < nodes:
        raise InvalidInputError(
            f"job {record.job_id} has no node {node}: its nodes are 0..{nodes - 1}", hint="`--node all` shows every node"
        )
    ranks = range(nodes) if node is None else [node]
    readers = [_NodeReader(target, record, rank, prefixed=node is None) for rank in ranks]

    def read_all() -> bytes:
        return b"".join(reader.read() for reader in readers)

    if not follow_output:
        yield read_all()
        return

    def done() -> bool:
        return current(rt, rt.ledger.load(record.job_id) or record).state != JobState.RUNNING

    # The readers keep their own offsets: the follower's is not needed.
    yield from LogFollower(lambda offset: (read_all(), offset), rt.settings.poll_interval_s).follow(done)


class _NodeReader:
    """Reads one node's output from where it left off; prefixed, it yields whole lines only, each
    starting ``[node K] `` (so that nodes' lines interleave, never mix)."""

    def __init__(self, target: Target, record: JobRecord, rank: int, *, prefixed: bool) -> None:
        self.target, self.record, self.rank, self.prefixed = target, record, rank, prefixed
        self.offset = 0
        self.partial = b""

    def read(self) -> bytes:
        data, self.offset = self.target.read_log(self.record, self.offset, node=self.rank)
        if not self.prefixed:
            return data
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        prefix = f"[node {self.rank}] ".encode()
        return b"".join(prefix + line + b"\n" for line in lines)
