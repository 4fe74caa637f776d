"""Preemption recovery decisions, the same for every target: relaunch until ``max_preemptions``.

A multi-node job whose node was lost (its agent or machine gone, orchestrator/agent/group.py) is
relaunched as a whole the same way: losing a node counts as a preemption.
"""

from __future__ import annotations

from orchestrator.agent.group import NODE_LOST, SPOT_INTERRUPTION
from orchestrator.targets.base import Decision, Observation
from orchestrator.vocabulary import RunState

PREEMPTED = SPOT_INTERRUPTION
__all__ = ["NODE_LOST", "PREEMPTED", "Decision", "decide"]
_WHAT = {PREEMPTED: "spot preemption", NODE_LOST: "lost node"}


def decide(seen: Observation, *, preemptions: int, max_preemptions: int, newest_checkpoint: str | None) -> Decision:
    """After a preemption (or a lost node), relaunch (resuming from the newest checkpoint) until ``max_preemptions``."""
    if seen.state != RunState.STOPPED or seen.reason not in _WHAT:
        return Decision("none", f"not preempted ({seen.state})", preemptions)
    what = _WHAT[seen.reason]
    if preemptions >= max_preemptions:
        return Decision(
            "give-up",
            f"preempted {preemptions + 1} times{'' if seen.reason == PREEMPTED else f' (last: {what})'}; "
            f"restarts.max_preemptions is {max_preemptions}",
            preemptions,
        )
    where = newest_checkpoint or "the beginning (no checkpoint yet)"
    return Decision(
        "relaunch",
        f"{what} {preemptions + 1}/{max_preemptions}: resume from {where}",
        preemptions + 1,
        newest_checkpoint,
    )
