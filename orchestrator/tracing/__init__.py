"""OpenTelemetry traces of trainctl commands and agents, off unless an OTLP endpoint is configured.

Tracing is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
(and ``OTEL_SDK_DISABLED`` is not ``true``). Then each command is one trace: a root span ``trainctl
<command>`` (service ``trainctl``; the agent's spans: service ``trainctl-agent``), exported over OTLP/HTTP.

This module is the light half: it never imports OpenTelemetry itself. While tracing is off (or not
started, as on the ``--help`` and ``validate`` paths) :func:`span` is a no-op context manager and no
``opentelemetry`` module is loaded; :mod:`orchestrator.tracing.sdk` holds everything that needs the SDK.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.tracing.sdk import Tracing

TRACES_ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT_VAR = "TRACEPARENT"
TRACES_PATH = "/v1/traces"
CLI_SERVICE = "trainctl"
AGENT_SERVICE = "trainctl-agent"
# Span attributes every span of a job carries (DESIGN: trainctl.job_id, trainctl.target, trainctl.team).
JOB_ATTRIBUTES = {"job_id": "trainctl.job_id", "target": "trainctl.target", "team": "trainctl.team"}


class _State:
    tracing: Tracing | None = None


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint set, the SDK not disabled)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(env.get(TRACES_ENDPOINT_VAR, "").strip() or env.get(ENDPOINT_VAR, "").strip())


def traces_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The URL spans are posted to: the traces endpoint as given, else the base endpoint + ``/v1/traces``."""
    env = os.environ if environ is None else environ
    if not configured(env):
        return None
    explicit = env.get(TRACES_ENDPOINT_VAR, "").strip()
    if explicit:
        return explicit
    return env.get(ENDPOINT_VAR, "").strip().rstrip("/") + TRACES_PATH


def engine_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """The endpoint for the Pulumi engine's ``--otel-traces`` (it appends ``/v1/traces`` to http(s) URLs itself)."""
    url = traces_url(environ)
    if url is None:
        return None
    return url[: -len(TRACES_PATH)] if url.endswith(TRACES_PATH) else url


def without_credentials(url: str) -> str:
    """``url`` without a user name or password in it (what may be logged, or written into an agent's config)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def start(service: str, *, parent: str | None = None, environ: Mapping[str, str] | None = None, exporter: Any = None) -> bool:
    """Turn tracing on for this process when the environment asks for it; return whether it is on.

    ``parent``: a W3C ``traceparent`` the spans of this process join (else a new trace starts).
    A second call is a no-op. An SDK that cannot load is one warning and tracing stays off.
    ``exporter``: an OpenTelemetry ``SpanExporter`` that gets each span as it ends, instead of OTLP (tests).
    """
    if _State.tracing is not None:
        return True
    if not configured(environ):
        return False
    try:
        from orchestrator.tracing.sdk import Tracing
    except ImportError as e:  # the agent on an instance without the SDK installed
        import sys

        print(f"[trainctl] tracing is off: the OpenTelemetry SDK is not installed ({e})", file=sys.stderr)
        return False
    _State.tracing = Tracing(service, traces_url(environ) or "", parent=parent, exporter=exporter)
    try:
        from orchestrator.logs import add_event_fields
    except ImportError:  # the agent on an instance ships without trainctl's logging
        return True
    add_event_fields(_log_fields)
    return True


def _log_fields() -> dict[str, str] | None:
    ids = current_ids()
    return {"trace_id": ids[0], "span_id": ids[1]} if ids else None


class CommandTrace:
    """The root span of one traced command; ``finish`` records the exit code the CLI decided."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.trace_id = trace_id()

    def finish(self, exit_code: int) -> None:
        from orchestrator.tracing.sdk import bound_job, finish_root

        self.root.set_attributes(bound_job())
        finish_root(self.root, exit_code)


@contextmanager
def command(name: str) -> Iterator[CommandTrace | None]:
    """One command's trace (root span ``trainctl NAME``), exported when the block ends; None while off.

    A ``TRACEPARENT`` in trainctl's own environment (a CI job's trace, say) becomes the root's parent,
    and is taken out of the environment so that nothing else (the Pulumi SDK, the engine) reads it.
    """
    if not configured():
        yield None
        return
    parent = os.environ.pop(TRACEPARENT_VAR, None)
    if not start(CLI_SERVICE, parent=parent):
        yield None
        return
    try:
        with span(f"trainctl {name}", **{"trainctl.command": name}) as root:
            yield CommandTrace(root)
    finally:
        shutdown()


def active() -> bool:
    """Whether this process is tracing."""
    return _State.tracing is not None


def shutdown() -> None:
    """End tracing: export what is left, within a bounded time (a collector that is down costs ~2 s at most)."""
    tracing, _State.tracing = _State.tracing, None
    if tracing is not None:
        tracing.shutdown()


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A child span of the current one (a no-op yielding None while tracing is off)."""
    tracing = _State.tracing
    if tracing is None:
        yield None
        return
    with tracing.span(name, attributes) as current:
        yield current


def start_span(name: str, **attributes: Any) -> Any:
    """A child span of the current one that the caller ends (``.end()``); None while tracing is off."""
    tracing = _State.tracing
    return tracing.start_span(name, attributes) if tracing is not None else None


def failed(span: Any, description: str) -> None:
    """Give ``span`` (from :func:`span` or :func:`start_span`; None while off) an error status."""
    if span is None:
        return
    from orchestrator.tracing.sdk import mark_failed

    mark_failed(span, description)


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (None while tracing is off)."""
    tracing = _State.tracing
    return tracing.traceparent() if tracing is not None else None


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex (None while tracing is off or outside any span)."""
    tracing = _State.tracing
    return tracing.current_ids() if tracing is not None else None


def trace_id() -> str | None:
    """The current trace's id as 32 hex digits (None while tracing is off)."""
    ids = current_ids()
    return ids[0] if ids else None


def engine_env() -> dict[str, str]:
    """What an engine operation's environment needs to join the current span: the endpoint and ``TRACEPARENT``."""
    parent = traceparent()
    endpoint = engine_endpoint()
    if parent is None or endpoint is None:
        return {}
    return {"PULUMI_OPTION_OTEL_TRACES": endpoint, TRACEPARENT_VAR: parent}


def agent_context(**attributes: str) -> dict[str, str]:
    """What an agent needs to join the current trace (empty while tracing is off): where to send spans,
    the current span as its parent, and the job attributes (``job_id``, ``target``, ``team``)."""
    parent = traceparent()
    url = traces_url()
    if parent is None or url is None:
        return {}
    # Credentials in the URL stay out of the agent's config (it lands in plain stack state and on instances).
    return {"traceparent": parent, "endpoint": without_credentials(url), **{k: v for k, v in attributes.items() if v}}


def job_attributes(values: Mapping[str, Any]) -> dict[str, str]:
    """The ``trainctl.*`` span attributes of the job fields among ``values`` (job_id, target, team)."""
    return {attribute: str(values[key]) for key, attribute in JOB_ATTRIBUTES.items() if values.get(key)}


def instrument_client(events: Any, service: str) -> None:
    """With tracing on, every call of the cloud client whose event system is ``events`` becomes a span."""
    tracing = _State.tracing
    if tracing is None:
        return
    from orchestrator.tracing.cloud import CallSpans
    from orchestrator.tracing.sdk import bound_job

    CallSpans(tracing.tracer, service, bound_job()).register(events)


def resource_spans() -> Any:
    """An engine event handler that records one span per resource operation under the current span (None: off)."""
    tracing = _State.tracing
    return tracing.resource_spans() if tracing is not None else None
