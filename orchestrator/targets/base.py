"""The interface every target implements. Pure data in, a Pulumi program and observations out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.compile import CompiledJob
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import LoadedSpec
from orchestrator.vocabulary import RunState

if TYPE_CHECKING:
    from orchestrator.targets.preemption import Decision


@dataclass(frozen=True)
class Observation:
    """What a target sees of a job right now."""

    state: RunState
    reason: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    newest_checkpoint: str | None = None
    updated_at: float | None = None


@dataclass(frozen=True)
class Preflight:
    """What a target checked before allocating: the spec to allocate (adjusted where the target must,
    e.g. a root volume no smaller than the image), notices to show, and facts for the plan document."""

    loaded: LoadedSpec
    notices: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def status_fields(status: dict[str, Any] | None) -> dict[str, Any]:
    """The Observation fields an agent's ``status.json`` carries (every target reads the same file)."""
    status = status or {}
    keys = ("reason", "exit_code", "started_at", "ended_at", "newest_checkpoint", "updated_at")
    return {key: status.get(key) for key in keys}


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

    def read_log(self, record: JobRecord, offset: int) -> tuple[bytes, int]:
        """Output bytes from ``offset`` on, and the new offset."""
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


def follow(read: Callable[[int], tuple[bytes, int]], done: Callable[[], bool], interval: float) -> Iterator[bytes]:
    """Yield new output as it appears until ``done()`` and nothing more is left."""
    import time

    offset = 0
    while True:
        finished = done()
        chunk, offset = read(offset)
        if chunk:
            yield chunk
        elif finished:
            return
        else:
            time.sleep(interval)
