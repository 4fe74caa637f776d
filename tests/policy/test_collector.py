"""PolicyCollector: the engine's policy events become violations; mandatory ones raise exit 3."""

from __future__ import annotations

import pytest
from pulumi.automation.events import EngineEvent, PolicyEvent

from orchestrator.errors import ExitCode, PolicyViolationError
from orchestrator.policy.collector import PolicyCollector, split_message
from orchestrator.policy.verdict import PolicyBlockedError

URN = "urn:pulumi:job-1::trainctl::pulumi-python:dynamic:Resource::job-manifest"


def _event(level: str, message: str, policy: str = "max-hourly-cost", urn: str | None = URN) -> EngineEvent:
    event = PolicyEvent(message, "never", policy, "trainctl", "0.1.0", "0.1.0", level, urn)
    return EngineEvent(1, 0, policy_event=event)


def test_events_become_violations_with_resource_message_and_fix() -> None:
    """An engine policy event is parsed into policy, level, resource name and type, message and fix."""
    collector = PolicyCollector()
    collector(
        _event("mandatory", "A job's hourly price stays under its team's cap.\n55 USD/hour is above 40\nfix: choose less\n")
    )
    [v] = collector.violations()
    assert (v.policy, v.enforcement, v.resource, v.resource_type) == (
        "max-hourly-cost",
        "mandatory",
        "job-manifest",
        "pulumi-python:dynamic:Resource",
    )
    assert (v.message, v.fix, v.urn) == ("55 USD/hour is above 40", "choose less", URN)


def test_mandatory_violation_raises_policy_error_with_every_one_listed() -> None:
    """check() raises a PolicyViolationError (exit 3) whose details list each mandatory violation, caused by the engine error."""
    collector = PolicyCollector()
    collector(_event("mandatory", "d\nfirst\nfix: one"))
    collector(_event("mandatory", "d\nsecond\nfix: two", policy="required-tags"))
    collector(_event("advisory", "d\nadvice\nfix: three", policy="spot-preferred"))
    engine_error = RuntimeError("preview failed")
    with pytest.raises(PolicyViolationError) as caught:
        collector.check(engine_error)
    error = caught.value
    assert error.exit_code == ExitCode.POLICY_BLOCKED and error.__cause__ is engine_error
    assert error.details == [
        "max-hourly-cost [mandatory] job-manifest: first (fix: one)",
        "required-tags [mandatory] job-manifest: second (fix: two)",
    ]
    assert isinstance(error, PolicyBlockedError) and len(error.to_dict()["violations"]) == 3  # type: ignore[arg-type]


def test_advisory_violations_are_returned_not_raised() -> None:
    """Only advisory events: check() returns them (engine's old 'warning' level read as advisory)."""
    collector = PolicyCollector()
    collector(_event("warning", "d\nadvice\nfix: spot"))
    assert [(v.policy, v.enforcement) for v in collector.check()] == [("max-hourly-cost", "advisory")]


def test_duplicates_are_kept_once_and_other_events_are_forwarded() -> None:
    """The same violation reported twice is listed once; every event reaches the forwarded handler."""
    seen: list[EngineEvent] = []
    collector = PolicyCollector(forward=seen.append)
    other = EngineEvent(2, 0)
    for event in (_event("mandatory", "d\nm"), _event("mandatory", "d\nm"), other):
        collector(event)
    assert len(collector.violations()) == 1 and len(seen) == 3


def test_stack_level_and_single_line_messages() -> None:
    """An event without a resource is about the stack; a one-line message (engine diagnostics) is kept whole."""
    collector = PolicyCollector()
    collector(_event("advisory", "can't run policy 'x' during preview", urn=None))
    [v] = collector.violations()
    assert (v.resource, v.message, v.fix) == ("", "can't run policy 'x' during preview", "")
    assert v.line() == "max-hourly-cost [advisory] stack: can't run policy 'x' during preview"


def test_split_message_drops_the_description_and_takes_the_fix() -> None:
    """pulumi_policy prefixes the description: message is what follows, fix the 'fix:' line."""
    assert split_message("Desc.\nline one\nline two\nfix: do it\n") == ("line one line two", "do it")
