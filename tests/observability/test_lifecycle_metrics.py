"""Lifecycle facts are counted where they happen: a relaunch after a preemption, a give-up, through the real engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.metrics import journal
from orchestrator.testing.harness import Trainctl, wait_until
from orchestrator.testing.imds import FakeImds


@pytest.fixture
def metadata() -> Iterator[FakeImds]:
    """A fake instance metadata service whose spot notice the local agent polls."""
    service = FakeImds()
    yield service
    service.stop()


def _preempt_once(tc: Trainctl, spec: str, metadata: FakeImds) -> int:
    proc = tc.start("up", spec, env={"TRAINCTL_LOCAL_SPOT_NOTICE_URL": metadata.url})
    wait_until(lambda: any((tc.home / "artifacts").glob("*/checkpoints/step-*.json")), timeout=60)
    metadata.notice()
    _, err = proc.communicate(timeout=120)
    assert metadata.actions_served == 1, err
    return proc.returncode


def test_a_relaunch_counts_a_preemption_and_an_allocation_not_a_new_start(tc: Trainctl, make_job, metadata: FakeImds) -> None:
    """Preempted once, relaunched, succeeded: 1 start, 1 completion, 1 preemption, 2 allocations."""
    assert _preempt_once(tc, str(make_job(steps=200, step_s=0.05)), metadata) == 0
    folded = journal.read(tc.home)
    assert folded.counters[("trainctl_training_jobs_started_total", ("local", "test-team"))] == 1
    assert folded.counters[("trainctl_training_jobs_completed_total", ("local", "test-team"))] == 1
    assert folded.counters[("trainctl_preemptions_total", ("local",))] == 1
    allocations = folded.histograms[("trainctl_resource_allocation_duration_seconds", ("local",))]
    assert sum(allocations[:-1]) == 2


def test_a_preemption_beyond_the_limit_is_a_failure_by_preemptions(tc: Trainctl, make_job, metadata: FakeImds) -> None:
    """max_preemptions 0: the preemption is counted and the job fails with reason label 'preemptions'."""
    spec = make_job(steps=400, step_s=0.05, extra="restarts:\n  max_preemptions: 0\n")
    assert _preempt_once(tc, str(spec), metadata) == 6
    folded = journal.read(tc.home)
    assert folded.counters[("trainctl_preemptions_total", ("local",))] == 1
    assert folded.counters[("trainctl_training_jobs_failed_total", ("local", "test-team", "preemptions"))] == 1
    assert ("trainctl_training_jobs_completed_total", ("local", "test-team")) not in folded.counters
