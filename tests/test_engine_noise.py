"""The engine's shutdown noise ("Resource monitor has terminated, shutting down") never reaches the user."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from orchestrator.errors import CloudError
from orchestrator.lifecycle.progress import EngineProgress

NOISE = "Resource monitor has terminated, shutting down"


def _diagnostic(message: str, severity: str = "error") -> SimpleNamespace:
    event = SimpleNamespace(severity=severity, message=message, ephemeral=False)
    return SimpleNamespace(resource_pre_event=None, res_outputs_event=None, res_op_failed_event=None, diagnostic_event=event)


def test_progress_leaves_out_the_engine_shutdown_noise() -> None:
    """Progress lines show a real engine error and leave out the engine's report of its own shutdown."""
    stream = io.StringIO()
    progress = EngineProgress(stream)
    progress(_diagnostic(NOISE + "\n"))
    progress(_diagnostic("update canceled\n"))
    assert stream.getvalue() == "  error: update canceled\n"


def test_engine_error_message_leaves_out_the_shutdown_noise() -> None:
    """An engine failure's message names its cause, without the shutdown lines around it."""
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from orchestrator.engine.automation import translate_errors

    stderr = f"error: {NOISE}\nerror: update canceled\nerror: {NOISE}\n"
    with pytest.raises(CloudError) as raised, translate_errors("up", job_id="j-abcdef"):
        raise CommandError(CommandResult("", stderr, 255))
    assert "update canceled" in raised.value.message
    assert "Resource monitor" not in raised.value.message
