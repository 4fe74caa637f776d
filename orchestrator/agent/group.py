"""One job, one fate: the agents of a multi-node job run, restart and stop together.

Every node's agent heartbeats its status into the job's shared store (orchestrator/agent/layout.py).
Rank 0's agent coordinates: it writes the group's orders to ``group.json`` (which attempt runs, and
whether it runs, restarts or stops); the other agents follow them.

- A node's run exits non-zero: every node stops its run (SIGTERM, grace period); once all have, every
  node starts the next attempt, resuming from the newest checkpoint (counted against
  ``restarts.max_failures``; when none is left the group fails).
- A node is lost (its heartbeat stopped for ``node_timeout_s``), preempted, stopped by a signal or by
  a limit: every node stops. A lost or preempted node leaves the job ``stopped`` with a reason that
  makes the job relaunch as a whole (a new allocation of every node).
- Every node's run exits 0: the job succeeded.

Orders and statuses carry the allocation's ``launch_id``: what an earlier allocation left in the
store is never taken for the current one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.layout import GROUP_KEY, node_status_key
from orchestrator.agent.store import Store
from orchestrator.vocabulary import RunState

NODE_LOST = "node-lost"  # a stop reason after which the job is relaunched as a whole, like a preemption
SPOT_INTERRUPTION = "spot-interruption"
LIMITS = ("max_runtime", "budget")
# The reasons after which the job is relaunched (a new allocation), not torn down.
RELAUNCH_REASONS = (SPOT_INTERRUPTION, NODE_LOST)
FINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.STOPPED})

Action = Literal["run", "restart", "stop", "done"]


@dataclass(frozen=True)
class GroupOrder:
    """What rank 0 tells every node about ``attempt``: run it, restart after it, stop, or done (all exited 0)."""

    attempt: int
    action: Action
    reason: str | None = None
    state: str | None = None  # the final RunState of a stop
    detail: str | None = None  # for people: which node, what happened
    checkpoint: str | None = None  # the order to run: the checkpoint every node resumes from (None: the start)

    def settles(self, attempt: int) -> bool:
        """Whether this order ends ``attempt`` (anything but the order to run it)."""
        return self.attempt > attempt or (self.attempt == attempt and self.action != "run")


def stop_state(reason: str) -> RunState:
    """The state a group stopped for ``reason`` ends in: a used-up limit fails the job, the rest stop it."""
    return RunState.FAILED if reason in LIMITS else RunState.STOPPED


def stop_order(attempt: int, reason: str, detail: str | None = None) -> GroupOrder:
    """The order that stops every node for ``reason``."""
    return GroupOrder(attempt, "stop", reason, stop_state(reason).value, detail)


class NodeGroup:
    """One node's view of its group: read the orders and the other nodes' statuses; rank 0 posts orders."""

    def __init__(self, config: AgentConfig, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = config
        self.store = store
        self.rank = config.node_rank
        self.size = config.num_nodes
        self.coordinator = config.node_rank == 0
        self._clock = clock
        self._born = clock()
        self._beats: dict[int, tuple[Any, float]] = {}

    # -- reading ----------------------------------------------------------------------------------
    def order(self) -> GroupOrder | None:
        """The current allocation's newest order (None before rank 0 has posted one)."""
        data = self._read(GROUP_KEY)
        if data is None:
            return None
        try:
            return GroupOrder(**{k: data[k] for k in GroupOrder.__dataclass_fields__ if k in data})
        except TypeError:
            return None

    def node_status(self, rank: int) -> dict[str, Any] | None:
        """Node ``rank``'s status in this allocation (None until it has written one)."""
        return self._read(node_status_key(rank))

    def lost(self, rank: int, status: dict[str, Any] | None) -> str | None:
        """Why node ``rank`` counts as lost, or None while it is heard from.

        Judged by this node's own clock: a heartbeat (``updated_at``) that has not changed for
        ``node_timeout_s``, or no status at all ``node_start_timeout_s`` after this agent started.
        """
        now = self._clock()
        if status is None:
            if now - self._born > self.cfg.node_start_timeout_s:
                return f"node {rank} has not reported within {self.cfg.node_start_timeout_s:.0f}s"
            return None
        beat = status.get("updated_at")
        seen = self._beats.get(rank)
        if seen is None or seen[0] != beat:
            self._beats[rank] = (beat, now)
            return None
        if now - seen[1] > self.cfg.node_timeout_s:
            return f"node {rank} sent no heartbeat for {now - seen[1]:.0f}s"
        return None

    # -- rank 0 -----------------------------------------------------------------------------------
    def post(self, order: GroupOrder) -> None:
        """Write ``order`` for every node (rank 0 only)."""
        document = {**asdict(order), "launch_id": self.cfg.launch_id, "posted_at": time.time()}
        self.store.write_text(GROUP_KEY, json.dumps(document, sort_keys=True))

    def judge(self, attempt: int, *, own_exit: int | None, own_stop: str | None, failures: int) -> GroupOrder | None:
        """Rank 0's verdict on ``attempt`` now, or None while it simply goes on."""
        if own_stop is not None:
            return stop_order(attempt, own_stop, f"node 0 stopped: {own_stop}")
        exits: dict[int, int | None] = {0: own_exit}
        for rank in range(1, self.size):
            status = self.node_status(rank)
            stop = self._peer_stop(attempt, rank, status)
            if stop is not None:
                return stop
            exits[rank] = _exit_of(status, attempt)
        failed = [(rank, code) for rank, code in exits.items() if code not in (None, 0)]
        if failed:
            rank, code = failed[0]
            detail = f"node {rank}: exit {code}"
            if failures < self.cfg.max_failures:
                return GroupOrder(attempt, "restart", detail, None, detail)
            return GroupOrder(attempt, "stop", detail, RunState.FAILED.value, detail)
        if all(code == 0 for code in exits.values()):
            return GroupOrder(attempt, "done", "exit 0")
        return None

    def barrier(self, attempt: int) -> GroupOrder | None:
        """After a restart order: a stop order if a node was lost or stopped on its own, else None.

        :meth:`all_ended` says when every node's run of ``attempt`` has ended.
        """
        for rank in range(1, self.size):
            stop = self._peer_stop(attempt, rank, self.node_status(rank))
            if stop is not None:
                return stop
        return None

    def _peer_stop(self, attempt: int, rank: int, status: dict[str, Any] | None) -> GroupOrder | None:
        """A stop order when node ``rank`` stopped on its own or is lost, else None."""
        ended = self._ended_on_its_own(rank, status)
        if ended is not None:
            return ended
        why = self.lost(rank, status)
        return None if why is None else stop_order(attempt, NODE_LOST, why)

    def all_ended(self, attempt: int) -> bool:
        """Whether every other node reports its run of ``attempt`` ended (or never started)."""
        return all(_ended_attempt(self.node_status(rank)) >= attempt for rank in range(1, self.size))

    # -- helpers ----------------------------------------------------------------------------------
    def _ended_on_its_own(self, rank: int, status: dict[str, Any] | None) -> GroupOrder | None:
        """A stop order when node ``rank``'s agent ended without being told to (a signal, a limit, a preemption)."""
        if status is None or status.get("state") not in FINAL:
            return None
        reason = str(status.get("reason") or "stopped")
        attempt = int(status.get("attempt") or 0)
        state = RunState.FAILED if status.get("state") == RunState.FAILED else stop_state(reason)
        return GroupOrder(attempt, "stop", reason, state.value, f"node {rank} stopped: {reason}")

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            text = self.store.read_text(key)
        except OSError:
            return None
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("launch_id") != self.cfg.launch_id:
            return None
        return data


def _exit_of(status: dict[str, Any] | None, attempt: int) -> int | None:
    """The exit code of a node's run of ``attempt`` (None while it runs or before it started)."""
    if status is None or _ended_attempt(status) != attempt:
        return None
    code = status.get("run_exit")
    return int(code) if isinstance(code, int) else None


def _ended_attempt(status: dict[str, Any] | None) -> int:
    if status is None:
        return 0
    value = status.get("ended_attempt")
    return int(value) if isinstance(value, int) else 0
