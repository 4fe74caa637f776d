"""Durations as the spec writes them: ``90s``, ``30m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
DURATION_PATTERN = r"^\d+[smhd]$"


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises ValueError naming the accepted forms."""
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a whole number and a unit, e.g. 90s, 30m, 2h, 1d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact spelling of ``seconds`` (5400 -> ``90m``)."""
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
