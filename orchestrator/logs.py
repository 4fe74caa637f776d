"""Structured logging: key-value events on stderr, configured once per process.

Console rendering on a TTY, JSON lines otherwise. Format and level come from the command line
(``--log-format``, ``--debug``), else from the settings (``log_format``/``log_level``: environment or
config.toml), read at the first log call. Job and run ids are
bound through contextvars (``bind_job``) so every event of an operation carries them; other modules
add fields of their own to every event (``add_event_fields``: tracing adds ``trace_id`` and ``span_id``).
structlog is imported on the first log call, not at start-up: commands that never log stay fast.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


_FORMATS = ("auto", "console", "json")
# Sources of fields every event carries besides the bound context (e.g. the current trace and span ids).
_FIELD_SOURCES: list[Callable[[], Mapping[str, str] | None]] = []


class _Config:
    fmt: str | None = None  # None: the log_format setting
    level: str | None = None  # None: the log_level setting
    applied = False


def configure_logging(fmt: str | None = None, level: str | None = None) -> None:
    """Choose rendering (``auto``, ``console`` or ``json``) and level, None for the settings' choice;
    applied at the first log call."""
    _Config.fmt = fmt if fmt in _FORMATS else None
    _Config.level = level if level in _LEVELS else None
    _Config.applied = False


def _chosen() -> tuple[str, str]:
    """Format and level: what configure_logging chose, else the settings (invalid settings: the defaults,
    the command reports them itself)."""
    fmt, level = _Config.fmt, _Config.level
    if fmt is None or level is None:
        from orchestrator.errors import SettingsError
        from orchestrator.settings import get_settings

        try:
            settings = get_settings()
            fmt, level = fmt or settings.log_format, level or settings.log_level
        except SettingsError:
            fmt, level = fmt or "auto", level or "info"
    return fmt, level


def get_logger(name: str) -> Any:
    """A structlog logger for module ``name``."""
    import structlog

    if not _Config.applied:
        _apply(structlog)
    return structlog.get_logger(name)


def bind_job(job_id: str, **extra: object) -> None:
    """Attach ``job_id`` (and e.g. ``run_id``) to every event logged from now on in this context."""
    import structlog

    structlog.contextvars.bind_contextvars(job_id=job_id, **extra)


def add_event_fields(source: Callable[[], Mapping[str, str] | None]) -> None:
    """From now on, every event also carries the fields ``source()`` returns at the time it is logged."""
    if source not in _FIELD_SOURCES:
        _FIELD_SOURCES.append(source)


def _add_fields(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    for source in _FIELD_SOURCES:
        for key, value in (source() or {}).items():
            event.setdefault(key, value)
    return event


class _StderrLogger:
    """Writes each rendered event to ``sys.stderr`` as it is at that moment (not as it was when logging
    was configured: a redirected or replaced stderr, e.g. a test's capture, gets the events)."""

    @classmethod
    def factory(cls, *args: Any) -> _StderrLogger:
        return cls()

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _apply(structlog: Any) -> None:
    fmt, level = _chosen()
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer(colors=True) if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_fields,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=_StderrLogger.factory,
        cache_logger_on_first_use=False,
    )
    _Config.applied = True
