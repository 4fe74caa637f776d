"""Every AWS API call is measured where it happens: latency by service, operation and outcome, and retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cloud import aws
from orchestrator.errors import NotFoundError, TrainctlError
from orchestrator.metrics import journal
from orchestrator.settings import get_settings
from orchestrator.testing.faults import FaultProxy, throttle

CALLS = "trainctl_cloud_api_call_duration_seconds"
RETRIES = "trainctl_cloud_api_retries_total"


@pytest.fixture
def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A journal for this test, and fast retries."""
    monkeypatch.setenv("TRAINCTL_RETRY_BASE_DELAY_S", "0.01")
    get_settings.cache_clear()
    journal.activate(tmp_path)
    yield tmp_path
    journal.deactivate()


def _calls(home: Path, service: str, operation: str, outcome: str) -> float:
    state = journal.read(home).histograms.get((CALLS, (service, operation, outcome)))
    return sum(state[:-1]) if state else 0.0


def test_throttled_calls_count_as_retried_then_ok(faults: FaultProxy, recording: Path) -> None:
    """Two throttled DescribeInstances then a success: two 'retried' observations, one 'ok', two retries counted."""
    faults.add(throttle("DescribeInstances", times=2))
    ec2 = aws.client("ec2", region="us-east-1", max_attempts=aws.CALL_MAX_ATTEMPTS)
    aws.call("listing instances (ec2 DescribeInstances)", ec2.describe_instances)
    assert _calls(recording, "ec2", "DescribeInstances", "retried") == 2
    assert _calls(recording, "ec2", "DescribeInstances", "ok") == 1
    assert journal.read(recording).counters[(RETRIES, ("ec2", "DescribeInstances"))] == 2


def test_a_permanent_error_counts_as_error_without_retries(faults: FaultProxy, recording: Path) -> None:
    """A call refused for good (an unknown bucket) is one 'error' observation and no retry."""
    s3 = aws.client("s3", region="us-east-1", max_attempts=aws.CALL_MAX_ATTEMPTS)
    with pytest.raises(TrainctlError) as failed:
        aws.call("reading a missing bucket (s3 HeadBucket)", lambda: s3.head_bucket(Bucket="no-such-bucket-here"))
    assert isinstance(failed.value, NotFoundError) or not failed.value.retryable
    assert _calls(recording, "s3", "HeadBucket", "error") == 1
    assert (RETRIES, ("s3", "HeadBucket")) not in journal.read(recording).counters
