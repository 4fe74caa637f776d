"""The training script's own metrics: JSON lines it appends to ``$TRAINCTL_METRICS_FILE``.

Each line is a JSON object such as ``{"step": 120, "loss": 0.31, "accuracy": 0.88}``; numbers only,
and the newest value of each name wins. The agent reads the file incrementally (only what was
appended since the last read, only whole lines) and puts the newest values into its status, where
`status`, `top` and the Prometheus exporter find them. A line that is not a JSON object, or a value
that is not a number, is skipped: the first one is reported once, the rest are only counted. Nothing
about a bad file can stop the agent. Standard library only: this ships to instances.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

ENV_NAME = "TRAINCTL_METRICS_FILE"
FILE_NAME = "metrics.jsonl"
# Bounds: a runaway script cannot make the status (or a Prometheus label set) grow without limit.
MAX_NAMES = 64
MAX_NAME_LENGTH = 100
MAX_LINE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 1024 * 1024


@dataclass
class ScriptMetrics:
    """Follows one metrics file: ``poll()`` folds newly appended lines into ``newest``."""

    path: Path
    newest: dict[str, float] = field(default_factory=dict)
    updated_at: float | None = None  # when the newest accepted line was read
    skipped: int = 0  # lines or values that were not accepted
    first_problem: str | None = None  # what was wrong with the first of them (reported once)
    _offset: int = 0
    _partial: bytes = b""
    _line_number: int = 0
    _reported: bool = False

    def poll(self, now: float) -> bool:
        """Read what was appended since the last call; True when a line brought values."""
        data = self._read_new()
        if not data:
            return False
        *lines, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > MAX_LINE_BYTES:  # a line that never ends: drop it, keep reading after it
            self._problem(f"line {self._line_number + 1} is longer than {MAX_LINE_BYTES} bytes")
            self._partial = b""
        changed = False
        for raw in lines:
            self._line_number += 1
            changed = self._fold(raw) or changed
        if changed:
            self.updated_at = now
        return changed

    def take_warning(self) -> str | None:
        """The one warning to show about skipped input, the first time there is one (then None)."""
        if self.first_problem is None or self._reported:
            return None
        self._reported = True
        return f"{ENV_NAME}: {self.first_problem}; skipped (later problems are only counted, in the status)"

    # -- helpers ----------------------------------------------------------------------------------
    def _read_new(self) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, 2)
                if size < self._offset:  # the script truncated or replaced the file: start over
                    self._offset, self._partial = 0, b""
                handle.seek(self._offset)
                data = handle.read(READ_CHUNK_BYTES)
        except OSError:
            return b""
        self._offset += len(data)
        return data

    def _fold(self, raw: bytes) -> bool:
        text = raw.strip()
        if not text:
            return False
        try:
            document = json.loads(text)
        except ValueError:
            return self._problem(f"line {self._line_number} is not JSON")
        if not isinstance(document, dict):
            return self._problem(f"line {self._line_number} is not a JSON object")
        changed = False
        for name, value in document.items():
            if not _is_number(value):
                self._problem(f"line {self._line_number}: {name!r} is not a number")
                continue
            if name not in self.newest and (len(self.newest) >= MAX_NAMES or not 0 < len(name) <= MAX_NAME_LENGTH):
                self._problem(f"line {self._line_number}: {name!r} is one name too many (at most {MAX_NAMES}, short ones)")
                continue
            self.newest[name] = float(value)
            changed = True
        return changed

    def _problem(self, what: str) -> bool:
        self.skipped += 1
        if self.first_problem is None:
            self.first_problem = what
        return False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
