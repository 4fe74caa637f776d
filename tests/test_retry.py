"""The retry policy: only retryable errors are retried, within attempts and time; each retry is logged."""

from __future__ import annotations

import pytest

from orchestrator.errors import AccessDeniedError, CapacityError, LockHeldError, TransientCloudError
from orchestrator.retry import RetryPolicy, call_with_retry

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01, max_total_s=5)


def flaky(failures: list[Exception]):  # type: ignore[no-untyped-def]
    calls = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return call, calls


def test_transient_errors_are_retried_until_success() -> None:
    """Two throttling errors then success: three calls, the result comes back."""
    call, calls = flaky([TransientCloudError("throttled"), TransientCloudError("throttled")])
    assert call_with_retry("describe", call, FAST) == "ok"
    assert len(calls) == 3


def test_attempt_limit_reraises_the_last_error() -> None:
    """A call that keeps failing transiently stops after max_attempts and raises that error."""
    call, calls = flaky([TransientCloudError(f"t{i}") for i in range(10)])
    with pytest.raises(TransientCloudError, match="t3"):
        call_with_retry("describe", call, FAST)
    assert len(calls) == 4


@pytest.mark.parametrize("error", [AccessDeniedError("no"), CapacityError("no capacity"), ValueError("bug")])
def test_permanent_and_capacity_errors_fail_at_once(error: Exception) -> None:
    """AccessDenied, capacity (fallback path) and non-trainctl errors are not retried."""
    call, calls = flaky([error])
    with pytest.raises(type(error)):
        call_with_retry("run", call, FAST)
    assert len(calls) == 1


def test_lock_held_by_live_process_is_waited_for() -> None:
    """A lock held by a live process is retryable: the call succeeds once it is released."""
    call, calls = flaky([LockHeldError("locked by pid 1")])
    assert call_with_retry("up", call, FAST) == "ok"
    assert len(calls) == 2


def test_total_time_budget_stops_retries() -> None:
    """max_total_s bounds the whole retry loop even with attempts left."""
    policy = RetryPolicy(max_attempts=1000, base_delay_s=0.05, max_delay_s=0.05, max_total_s=0.3)
    call, calls = flaky([TransientCloudError("slow") for _ in range(1000)])
    with pytest.raises(TransientCloudError):
        call_with_retry("describe", call, policy)
    assert 2 <= len(calls) < 1000  # 1000 attempts at ~25 ms of jittered delay each would take ~25 s


def test_each_retry_is_logged_with_attempt_limit_delay_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """Every retry emits one `retry` event naming operation, attempt, limit, delay and reason."""
    from orchestrator.logs import configure_logging

    configure_logging("json", "info")
    call, _ = flaky([TransientCloudError("RequestLimitExceeded")])
    call_with_retry("ec2.run_instances", call, FAST)
    err = capsys.readouterr().err
    assert '"event": "retry"' in err and '"operation": "ec2.run_instances"' in err
    assert '"attempt": 1' in err and '"limit": 4' in err and '"delay_s"' in err and "RequestLimitExceeded" in err
