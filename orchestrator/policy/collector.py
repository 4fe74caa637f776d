"""Policy verdicts from the engine: collect its policy events during ``preview``/``up``, then judge.

    collector = PolicyCollector(forward=EngineProgress())
    try:
        stack.up(on_event=collector, policy_packs=packs, policy_configs=configs)  # a JobStack
    except TrainctlError as e:
        collector.check(e)   # raises PolicyBlockedError (exit 3) when a mandatory policy refused
        raise
    warnings = collector.check()  # the advisory violations, to print

Events arrive on the engine's reader thread; the collector is safe to read from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from orchestrator.policy.model import FIX_PREFIX, Violation, urn_parts
from orchestrator.policy.verdict import raise_if_blocked

_LEVELS = {"warning": "advisory"}  # older engines call advisory violations warnings


class PolicyCollector:
    """An ``on_event`` handler that keeps the engine's policy violations (and forwards every event)."""

    def __init__(self, forward: Callable[[Any], None] | None = None) -> None:
        self._forward = forward
        self._lock = threading.Lock()
        self._found: list[Violation] = []

    def __call__(self, event: Any) -> None:
        policy_event = getattr(event, "policy_event", None)
        if policy_event is not None:
            violation = from_policy_event(policy_event)
            with self._lock:
                if violation not in self._found:
                    self._found.append(violation)
        if self._forward is not None:
            self._forward(event)

    def violations(self) -> list[Violation]:
        """Every violation seen so far, in the order the engine reported them."""
        with self._lock:
            return list(self._found)

    def check(self, error: BaseException | None = None) -> list[Violation]:
        """The violations; raises PolicyBlockedError (a PolicyViolationError, exit 3) if any is mandatory.

        Each mandatory violation is a detail line of the error (policy, resource, message, fix). Pass the
        engine's error when the operation failed: it becomes the cause of the policy error.
        """
        found = self.violations()
        raise_if_blocked(found, error)
        return found


def from_policy_event(event: Any) -> Violation:
    """A Violation from an Automation API ``PolicyEvent``."""
    urn = str(getattr(event, "resource_urn", None) or "")
    resource_type, name = urn_parts(urn)
    message, fix = split_message(str(getattr(event, "message", "") or ""))
    level = str(getattr(event.enforcement_level, "value", event.enforcement_level)).lower()
    return Violation(
        policy=str(event.policy_name),
        enforcement=_LEVELS.get(level, level),
        resource=name,
        message=message,
        fix=fix,
        resource_type=resource_type,
        urn=urn,
    )


def split_message(text: str) -> tuple[str, str]:
    """(message, fix) of an engine violation message: ``description\\nmessage\\nfix: ...``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    fix = ""
    if lines and lines[-1].startswith(FIX_PREFIX):
        fix = lines.pop()[len(FIX_PREFIX) :]
    if len(lines) > 1:
        lines = lines[1:]  # the first line is the policy's description, prefixed by pulumi_policy
    return " ".join(lines), fix
