"""A multi-node job seen as one: the group's state from its nodes', and what a lost node leads to."""

from __future__ import annotations

from orchestrator.agent.group import NODE_LOST
from orchestrator.targets.base import NodeView, Observation, group_observation
from orchestrator.targets.preemption import decide
from orchestrator.vocabulary import RunState


def _views(*states: tuple[RunState, str | None]) -> list[NodeView]:
    return [
        NodeView(rank, Observation(state=state, reason=reason, updated_at=100.0)) for rank, (state, reason) in enumerate(states)
    ]


def test_rank_0_speaks_for_the_group_and_every_node_is_listed() -> None:
    """Both nodes running: the job runs; the observation lists both nodes in rank order."""
    seen = group_observation(_views((RunState.RUNNING, None), (RunState.RUNNING, None)))
    assert seen.state == RunState.RUNNING
    assert [view.summary(102.5) for view in seen.nodes] == [
        {"rank": 0, "state": "running", "reason": None, "heartbeat_age_s": 2.5},
        {"rank": 1, "state": "running", "reason": None, "heartbeat_age_s": 2.5},
    ]


def test_a_failed_group_is_failed_whatever_node_failed() -> None:
    """Rank 0 reports the group's end (failed, naming node 1): that is the job's state."""
    seen = group_observation(_views((RunState.FAILED, "node 1: exit 3"), (RunState.FAILED, "node 1: exit 3")))
    assert (seen.state, seen.reason) == (RunState.FAILED, "node 1: exit 3")


def test_a_lost_rank_0_leaves_the_job_running_until_the_others_have_stopped() -> None:
    """Rank 0's agent died: while node 1 still runs the job runs (it is stopping); then it stopped 'node-lost'."""
    stopping = group_observation(_views((RunState.GONE, "agent died"), (RunState.RUNNING, None)))
    assert stopping.state == RunState.RUNNING and "node 0 lost" in (stopping.reason or "")
    stopped = group_observation(_views((RunState.GONE, "agent died"), (RunState.STOPPED, NODE_LOST)))
    assert (stopped.state, stopped.reason) == (RunState.STOPPED, NODE_LOST)
    gone = group_observation(_views((RunState.GONE, "agent died"), (RunState.GONE, "agent died")))
    assert gone.state == RunState.GONE


def test_a_lost_node_relaunches_the_job_as_a_preemption_does() -> None:
    """A group stopped 'node-lost' is relaunched from the newest checkpoint, counted against max_preemptions."""
    seen = Observation(state=RunState.STOPPED, reason=NODE_LOST)
    relaunch = decide(seen, preemptions=0, max_preemptions=1, newest_checkpoint="/a/checkpoints/epoch-0002.pt")
    assert (relaunch.action, relaunch.preemptions, relaunch.resume_from) == ("relaunch", 1, "/a/checkpoints/epoch-0002.pt")
    assert relaunch.reason.startswith("lost node 1/1")
    give_up = decide(seen, preemptions=1, max_preemptions=1, newest_checkpoint=None)
    assert give_up.action == "give-up" and "lost node" in give_up.reason
