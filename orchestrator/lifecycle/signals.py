"""Graceful SIGINT/SIGTERM: the first signal asks for a clean stop, the second skips the waiting.

The first signal is forwarded exactly once to the engine's process group (it finishes in-flight
operations, saves state and unlocks); work in trainctl notices ``stop_requested`` and tears down.
A second signal kills the engine and any wait, leaving at most what `trainctl recover` clears.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType


class GracefulStop:
    """Context manager installing the handlers; restores the previous ones on exit."""

    def __init__(self, on_first: Callable[[int], None] | None = None, on_second: Callable[[int], None] | None = None) -> None:
        self.signum: int | None = None
        self.count = 0
        self.event = threading.Event()
        self.urgent = threading.Event()
        self._on_first = on_first
        self._on_second = on_second
        self._previous: dict[int, object] = {}

    @property
    def stop_requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            self.signum = signum
            self.event.set()
            if self._on_first:
                self._on_first(signum)
        else:
            self.urgent.set()
            if self._on_second:
                self._on_second(signum)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a stop was requested meanwhile."""
        return self.event.wait(seconds)
