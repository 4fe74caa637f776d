"""The one retry policy for cloud and engine calls that can fail transiently.

Exponential backoff with full jitter, a cap on each delay, a maximum number of attempts and a maximum
total time, all from settings. Only errors that say they are retryable (TrainctlError.retryable:
throttling, 5xx, reset connections, a lock held by a live process) are retried; permanent errors
(access denied, validation, not found) and capacity errors (they go to the fallback path) fail at once.
Each retry is logged with attempt, limit, delay and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.errors import TrainctlError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, delays and a total time budget."""

    max_attempts: int = 8
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0
    max_total_s: float = 60.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        from orchestrator.settings import get_settings

        s = get_settings()
        return cls(s.retry_max_attempts, s.retry_base_delay_s, s.retry_max_delay_s, s.retry_max_total_s)


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is worth another attempt (it says so itself)."""
    return isinstance(error, TrainctlError) and error.retryable


def call_with_retry(
    operation: str,
    func: Callable[[], T],
    policy: RetryPolicy | None = None,
    *,
    retry_on: Callable[[BaseException], bool] = is_retryable,
) -> T:
    """Run ``func``; retry it while it raises a retryable TrainctlError (or what ``retry_on`` accepts), within ``policy``."""
    import tenacity

    from orchestrator.logs import get_logger

    policy = policy or RetryPolicy.from_settings()
    log = get_logger(__name__)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "retry",
            operation=operation,
            attempt=state.attempt_number,
            limit=policy.max_attempts,
            delay_s=round(delay, 3),
            reason=getattr(error, "message", str(error)),
        )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_on),
        stop=tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_after_delay(policy.max_total_s),
        wait=tenacity.wait_random_exponential(multiplier=policy.base_delay_s, max=policy.max_delay_s),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(func)
