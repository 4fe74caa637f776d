"""The interface every target implements. Pure data in, a Pulumi program and observations out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from orchestrator.compile import CompiledJob
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import LoadedSpec
from orchestrator.vocabulary import RunState


@dataclass(frozen=True)
class Observation:
    """What a target sees of a job right now."""

    state: RunState
    reason: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    newest_checkpoint: str | None = None
    newest_checkpoint_at: float | None = None  # when the agent first synced it
    updated_at: float | None = None
    # The newest values the training script reported (TRAINCTL_METRICS_FILE), name -> number.
    metrics: dict[str, float] | None = None
    # A multi-node job: each node's own view, in rank order (empty for one node).
    nodes: tuple[NodeView, ...] = ()


@dataclass(frozen=True)
class NodeView:
    """One node of a multi-node job as its target sees it."""

    rank: int
    seen: Observation

    def summary(self, now: float) -> dict[str, Any]:
        """The node as `status` shows it: rank, state, reason, heartbeat age."""
        age = round(now - self.seen.updated_at, 1) if self.seen.updated_at else None
        return {"rank": self.rank, "state": self.seen.state.value, "reason": self.seen.reason, "heartbeat_age_s": age}


def node_count(record: JobRecord) -> int:
    """How many nodes ``record``'s job has (``resources.nodes`` of its stored spec; 1 when it names none)."""
    resources = record.spec.get("resources") if isinstance(record.spec, dict) else None
    nodes = resources.get("nodes") if isinstance(resources, dict) else None
    return nodes if isinstance(nodes, int) and nodes >= 1 else 1


def group_observation(views: list[NodeView]) -> Observation:
    """A multi-node job's state from its nodes' (rank order): rank 0's agent speaks for the group.

    When rank 0's agent is gone, the others stop on their own once its heartbeat has stopped: until
    then the job still runs; then it stopped as they say (``node-lost``: relaunched as a whole).
    """
    from dataclasses import replace

    lead = views[0].seen
    nodes = tuple(views)
    if lead.state != RunState.GONE:
        return replace(lead, nodes=nodes)
    others = [view.seen for view in views[1:]]
    if any(seen.state in (RunState.STARTING, RunState.RUNNING) for seen in others):
        why = f"node 0 lost ({lead.reason}); the other nodes are stopping"
        return replace(lead, state=RunState.RUNNING, reason=why, nodes=nodes)
    stopped = [seen for seen in others if seen.state == RunState.STOPPED]
    if stopped:
        return replace(stopped[0], nodes=nodes)
    return replace(lead, nodes=nodes)


@dataclass(frozen=True)
class Preflight:
    """What a target checked before allocating: the spec to allocate (adjusted where the target must,
    e.g. a root volume no smaller than the image), notices to show, and facts for the plan document."""

    loaded: LoadedSpec
    notices: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What to do about a job that is no longer running (see ``targets.preemption.decide``)."""

    action: Literal["relaunch", "give-up", "none"]
    reason: str
    preemptions: int = 0
    resume_from: str | None = None


def no_status(record: JobRecord, timeout_s: float, now: float | None = None) -> Observation:
    """What a job whose agent has written no status is: ``provisioning`` for ``timeout_s``, then ``gone``.

    Never ``running``: a run nobody has seen start is not running. The clock starts when the current
    run's allocation finished (``started_at``), or when its provisioning began.
    """
    if record.torn_down:
        return Observation(state=RunState.GONE, reason="no status")
    import time

    since = record.started_at or max([record.created, *(end for _, end, _ in record.past_runs)])
    if (now or time.time()) - since < timeout_s:
        return Observation(state=RunState.PROVISIONING, reason="the agent has not reported yet")
    return Observation(state=RunState.GONE, reason=f"the agent wrote no status within {timeout_s:.0f}s")


def status_fields(status: dict[str, Any] | None) -> dict[str, Any]:
    """The Observation fields an agent's ``status.json`` carries (every target reads the same file)."""
    status = status or {}
    keys = ("reason", "exit_code", "started_at", "ended_at", "newest_checkpoint", "newest_checkpoint_at", "updated_at")
    fields = {key: status.get(key) for key in keys}
    fields["metrics"] = script_metrics_of(status)
    return fields


def script_metrics_of(status: dict[str, Any] | None) -> dict[str, float] | None:
    """The script's newest metrics in an agent status, numbers only (None when it reported none)."""
    metrics = (status or {}).get("metrics")
    if not isinstance(metrics, dict):
        return None
    numbers = {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return numbers or None


class Target(Protocol):
    """A place jobs run: it declares resources and observes the run."""

    name: str

    def preflight(self, loaded: LoadedSpec, *, region: str | None, offline: bool) -> Preflight:
        """Check ``loaded`` against the place it runs before anything is allocated (offline: no network).

        Raises when the job cannot run there (a trainctl error saying why and what to do).
        """
        ...

    def program(self, job: CompiledJob) -> Callable[[], None]:
        """The Pulumi program that allocates ``job`` (declares every resource, tagged)."""
        ...

    def observe(self, record: JobRecord) -> Observation:
        """The run's state from its status and heartbeat."""
        ...

    def read_log(self, record: JobRecord, offset: int, *, node: int = 0) -> tuple[bytes, int]:
        """Output bytes of node ``node`` (rank 0: the job's) from ``offset`` on, and the new offset."""
        ...

    def purge(self, record: JobRecord) -> list[str]:
        """Delete retained artifacts; return what was removed."""
        ...

    def outputs_summary(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The stack outputs worth keeping in the job record."""
        ...

    def relaunch_decision(self, record: JobRecord) -> Decision:
        """After the run stopped: relaunch it (a preemption within ``restarts.max_preemptions``) or not."""
        ...


class LogFollower:
    """Follows a job's output: yields new bytes as they appear, and remembers where it is (across runs of a job)."""

    def __init__(self, read: Callable[[int], tuple[bytes, int]], interval: float, offset: int = 0) -> None:
        self.read = read
        self.interval = interval
        self.offset = offset

    def follow(self, done: Callable[[], bool]) -> Iterator[bytes]:
        """Yield new output until ``done()`` and nothing more is left."""
        import time

        while True:
            finished = done()
            chunk, self.offset = self.read(self.offset)
            if chunk:
                yield chunk
            elif finished:
                return
            else:
                time.sleep(self.interval)
