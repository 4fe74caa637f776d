"""A node of a multi-node job: the supervision loop run in step with the other nodes (one job, one fate).

Each attempt of the run starts on every node when rank 0's agent orders it, resuming from the
checkpoint rank 0 names; it ends on every node when rank 0 orders a restart (a node's run failed),
a stop (a lost node, a signal, a limit, no restarts left) or declares it done (every run exited 0).
The protocol is in orchestrator/agent/group.py.
"""

from __future__ import annotations

import time
from typing import IO

from orchestrator.agent.checkpoints import restore, restore_newest
from orchestrator.agent.config import AgentConfig
from orchestrator.agent.group import NODE_LOST, GroupOrder, NodeGroup, stop_order, stop_state
from orchestrator.agent.store import Store
from orchestrator.agent.supervisor import TICK_S, InterruptionCheck, Supervisor
from orchestrator.vocabulary import RunState

GROUP_POLL_S = 1.0  # how often a node reads its group's orders (rank 0: the other nodes' statuses)


class NodeSupervisor(Supervisor):
    """Supervises one node's run as part of its group; rank 0's also coordinates the group."""

    def __init__(self, config: AgentConfig, store: Store, *, interruption: InterruptionCheck | None = None) -> None:
        super().__init__(config, store, interruption=interruption)
        self.group = NodeGroup(config, store)
        self._attempt = 0
        self._order: GroupOrder | None = None  # the group's order that settles the current attempt
        self._latest: GroupOrder | None = None  # the newest order a node other than rank 0 has read
        self._own_exit: int | None = None  # this node's exit code of the current attempt, once it ended
        self._last_poll = 0.0
        self.status.update(node_rank=self.rank, num_nodes=config.num_nodes, launch_id=config.launch_id)

    def _run_all(self, log: IO[bytes]) -> int:
        """A multi-node job: run attempts in step with the other nodes until the group's order ends it."""
        if self.deadline is not None and time.time() >= self.deadline:
            self._line(log, f"[trainctl] {self.deadline_reason} already used up by earlier runs of this job")
            self.stop_reason = self.deadline_reason
        if self.cfg.setup and self.stop_reason is None:
            code = self._supervise(self.cfg.setup, log, resume_from=None, phase="setup")  # not polled: orders are for runs
            if code != 0 and self.stop_reason is None:
                reason = f"node {self.rank}: setup exit {code}"
                return self._end_group(log, GroupOrder(0, "stop", reason, RunState.FAILED.value), code)
        attempt = 1
        while True:
            if self.stop_reason is not None:
                return self._end_group(log, stop_order(attempt, self.stop_reason), 143)
            self._begin(attempt)
            if self.group.coordinator:  # every node resumes from the checkpoint rank 0 names
                resume = restore_newest(self.store, self.ckpt_dir)
                self.group.post(GroupOrder(attempt, "run", checkpoint=resume.name if resume else None))
            else:
                start = self._await_order(attempt)
                if start.action == "restart":  # the group restarted before this node began the attempt
                    self.status.update(ended_attempt=start.attempt, run_exit=None)
                    attempt = start.attempt + 1
                    continue
                if start.action != "run":
                    return self._end_group(log, start, 143)
                attempt = start.attempt
                self._begin(attempt)
                resume = restore(self.store, self.ckpt_dir, start.checkpoint) if start.checkpoint else None
            self.status["attempts"] += 1
            self.status["attempt"] = attempt
            code = self._supervise(self.cfg.run, log, resume_from=resume)
            self._sync_now()
            self.status.update(ended_attempt=attempt, run_exit=code)
            self._write_status()
            self._own_exit, self._last_poll = code, 0.0
            order = self._await_order(attempt)
            if order.action != "restart":
                return self._end_group(log, order, code)
            self.status["failures"] += 1
            self._line(
                log,
                f"[trainctl] {order.detail}; restarting every node (restart {self.status['failures']}/{self.cfg.max_failures})",
            )
            if self.group.coordinator:
                stop = self._await_barrier(attempt)
                if stop is not None:
                    return self._end_group(log, stop, code)
            attempt += 1

    def _begin(self, attempt: int) -> None:
        """Forget the previous attempt's orders: from now on the group's orders are about ``attempt``."""
        self._attempt, self._order, self._own_exit, self._last_poll = attempt, None, None, 0.0

    def _await_order(self, attempt: int) -> GroupOrder:
        """Wait, heartbeating, for the order that settles ``attempt`` (rank 0 decides it, the others read
        it); a node other than rank 0 that has not run ``attempt`` yet also takes the order to run it."""
        while True:
            self._on_tick()
            if self._order is not None and self._order.settles(attempt):
                return self._order
            latest = self._latest
            if self._own_exit is None and latest is not None and latest.attempt >= attempt:
                return latest
            self._heartbeat()
            time.sleep(TICK_S)

    def _await_barrier(self, attempt: int) -> GroupOrder | None:
        """Rank 0 after a restart order: wait until every node's run of ``attempt`` ended (or a stop)."""
        while not self.group.all_ended(attempt):
            if self.stop_reason is not None:
                return stop_order(attempt, self.stop_reason)
            stop = self.group.barrier(attempt)
            if stop is not None:
                return stop
            self._heartbeat()
            time.sleep(TICK_S)
        return None

    def _on_tick(self) -> None:
        """Every GROUP_POLL_S: rank 0 judges the attempt and posts an order; the others read theirs.

        An order that settles the current attempt stops this node's run (SIGTERM: see ``_halting``).
        """
        if self._attempt == 0:
            return
        if self._order is not None and self._order.settles(self._attempt):
            return
        now = time.monotonic()
        if now - self._last_poll < min(GROUP_POLL_S, self.cfg.heartbeat_s):
            return
        self._last_poll = now
        order: GroupOrder | None
        if self.group.coordinator:
            order = self.group.judge(
                self._attempt, own_exit=self._own_exit, own_stop=self.stop_reason, failures=self.status["failures"]
            )
            if order is not None:
                self.group.post(order)
        else:
            self._latest = order = self.group.order()
            if order is not None and not order.settles(self._attempt):
                order = None
            if order is None and self.stop_reason is not None:
                order = stop_order(self._attempt, self.stop_reason)
            if order is None:
                why = self.group.lost(0, self.group.node_status(0))
                if why is not None:
                    order = stop_order(self._attempt, NODE_LOST, why)
        if order is not None and order.settles(self._attempt):
            self._order = order
            if order.action == "stop" and self.stop_reason is None:
                self.stop_reason = order.reason

    def _halting(self) -> bool:
        """Whether this node's run must stop now: a stop of its own, or a group order ending the attempt."""
        return self.stop_reason is not None or (self._order is not None and self._order.settles(self._attempt))

    def _end_group(self, log: IO[bytes], order: GroupOrder, code: int) -> int:
        """Finish this node as ``order`` says (rank 0 posts it first, so every node ends the same way)."""
        if self.group is not None and self.group.coordinator and order.action == "stop":
            self.group.post(order)
        if order.action == "done":
            return self._finish(RunState.SUCCEEDED, 0, reason="exit 0")
        reason = order.reason or "stopped"
        if order.detail and order.detail != reason:
            self._line(log, f"[trainctl] stopping every node: {order.detail}")
        if self.stop_reason is None:
            self.stop_reason = reason
        state = RunState(order.state) if order.state else stop_state(reason)
        return self._finish(state, code, reason=reason)
