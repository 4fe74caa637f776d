"""Live progress from engine events: one line per resource step, on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any

from orchestrator.engine.noise import is_engine_noise

# engine step op -> (while it runs, once it is done); ops mapped to None are not shown.
_VERBS: dict[str, tuple[str, str] | None] = {
    "create": ("creating", "created"),
    "delete": ("deleting", "deleted"),
    "update": ("updating", "updated"),
    "replace": ("replacing", "replaced"),
    "create-replacement": ("creating replacement", "created replacement"),
    "delete-replaced": ("deleting replaced", "deleted replaced"),
    "read": ("reading", "read"),
    "refresh": ("refreshing", "refreshed"),
    "same": None,
}


class EngineProgress:
    """Turns Automation API events into short lines: ``+ workdir creating`` / ``+ workdir created (0.4s)``."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self._started: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        done = getattr(event, "res_outputs_event", None)
        failed = getattr(event, "res_op_failed_event", None)
        diag = getattr(event, "diagnostic_event", None)
        if pre is not None:
            self._step(pre.metadata, started=True)
        elif done is not None:
            self._step(done.metadata, started=False)
        elif failed is not None:
            self._write(f"  ! {_name(failed.metadata.urn)} {failed.metadata.op} failed")
        elif diag is not None and _shown(diag):
            self._write(f"  {diag.severity}: {diag.message.strip()}")

    def _step(self, meta: Any, *, started: bool) -> None:
        op = str(getattr(meta.op, "value", meta.op))
        verbs = _VERBS.get(op, (op, op))
        if verbs is None or meta.type == "pulumi:pulumi:Stack" or meta.type.startswith("pulumi:providers:"):
            return
        name = _name(meta.urn)
        if started:
            self._started[meta.urn] = time.monotonic()
            self._write(f"  {_mark(op)} {name} {verbs[0]}")
            return
        took = time.monotonic() - self._started.pop(meta.urn, time.monotonic())
        self._write(f"  {_mark(op)} {name} {verbs[1]} ({took:.1f}s)")

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def _shown(diag: Any) -> bool:
    """Errors and warnings a user can act on: not ephemeral, not the engine's own shutdown noise."""
    if diag.severity not in ("error", "warning") or getattr(diag, "ephemeral", False):
        return False
    return not is_engine_noise(diag.message)


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _mark(op: str) -> str:
    return {"create": "+", "delete": "-", "update": "~", "replace": "+-"}.get(op, "*")
