"""Preemption recovery decisions, the same for every target: relaunch until ``max_preemptions``."""

from __future__ import annotations

from orchestrator.targets.base import Decision, Observation
from orchestrator.vocabulary import RunState

PREEMPTED = "spot-interruption"
__all__ = ["PREEMPTED", "Decision", "decide"]


def decide(seen: Observation, *, preemptions: int, max_preemptions: int, newest_checkpoint: str | None) -> Decision:
    """After a preemption, relaunch (resuming from the newest checkpoint) until ``max_preemptions``."""
    if seen.state != RunState.STOPPED or seen.reason != PREEMPTED:
        return Decision("none", f"not preempted ({seen.state})", preemptions)
    if preemptions >= max_preemptions:
        return Decision(
            "give-up", f"preempted {preemptions + 1} times; restarts.max_preemptions is {max_preemptions}", preemptions
        )
    where = newest_checkpoint or "the beginning (no checkpoint yet)"
    return Decision(
        "relaunch",
        f"spot preemption {preemptions + 1}/{max_preemptions}: resume from {where}",
        preemptions + 1,
        newest_checkpoint,
    )
