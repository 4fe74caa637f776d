"""A cost report's time window, and the ``--since``/``--until`` values that choose it."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

from orchestrator.errors import InvalidInputError

DAY_S = 86400


@dataclass(frozen=True)
class Window:
    """The report's time range [start, end) in epoch seconds; ``start`` None means since the first job."""

    start: float | None
    end: float

    def to_dict(self) -> dict[str, str | None]:
        return {"since": _iso(self.start), "until": _iso(self.end)}


def parse_window(since: str | None, until: str | None, now: float) -> Window:
    """``--since``/``--until``: a date (YYYY-MM-DD, UTC; ``--until`` includes that day) or a duration back from now (7d)."""
    start = None if since is None else parse_instant(since, now, option="--since", end_of_day=False)
    end = now if until is None else parse_instant(until, now, option="--until", end_of_day=True)
    if start is not None and start >= end:
        raise InvalidInputError(f"--since {since} is not before --until {until or 'now'}", hint="the window must start first")
    return Window(start, end)


def parse_instant(text: str, now: float, *, option: str, end_of_day: bool) -> float:
    """Epoch seconds of a date (its start, or with ``end_of_day`` the next midnight), or ``now`` minus a duration."""
    from orchestrator.spec.durations import parse_duration

    with contextlib.suppress(ValueError):
        day = dt.date.fromisoformat(text.strip())
        return float((day - dt.date(1970, 1, 1)).days * DAY_S + (DAY_S if end_of_day else 0))
    try:
        return now - parse_duration(text)
    except ValueError:
        hint = f"use a UTC date like 2026-11-01, or a duration like 7d, 12h or 90m for {option}"
        raise InvalidInputError(f"{option} {text!r} is neither a date nor a duration", hint=hint) from None


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
