"""The OpenTelemetry SDK side of :mod:`orchestrator.tracing`: provider, OTLP/HTTP export, spans.

Imported only when tracing is on. trainctl keeps its own ``TracerProvider`` instead of the global one
(the Pulumi SDK sets the global provider itself when it finds ``TRACEPARENT`` in its environment).
Export is batched; a collector that cannot be reached costs one warning and at most one bounded
attempt (``EXPORT_TIMEOUT_S``): after a failure, batches are dropped at once for ``COOL_DOWN_S``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator import __version__
from orchestrator.tracing import JOB_ATTRIBUTES, without_credentials

EXPORT_TIMEOUT_S = 2.0  # one export attempt (with its retries) never takes longer
COOL_DOWN_S = 30.0  # after a failed export, batches are dropped (not retried) for this long
_PROPAGATOR = TraceContextTextMapPropagator()
_SKIPPED_OPS = frozenset({"same"})  # engine steps that are no operation


class Tracing:
    """One process's tracing: a provider exporting to ``url``, spans parented under ``parent`` when given."""

    def __init__(self, service: str, url: str, *, parent: str | None = None, exporter: SpanExporter | None = None) -> None:
        """``exporter``: instead of OTLP/HTTP to ``url``, hand each span to it as it ends (tests)."""
        _quiet_sdk_logs()
        resource = Resource.create({"service.name": service, "service.version": __version__})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(_JobAttributes())
        if exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            guarded = GuardedExporter(url)
            self.provider.add_span_processor(BatchSpanProcessor(guarded, export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
        self.tracer = self.provider.get_tracer("trainctl", __version__)
        self._token: object | None = None
        if parent:
            self._token = otel_context.attach(_PROPAGATOR.extract({"traceparent": parent}))

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[Span]:
        kind = attributes.get("kind", SpanKind.INTERNAL)
        attrs = {k: _attribute(v) for k, v in attributes.items() if k != "kind" and v is not None}
        with self.tracer.start_as_current_span(name, kind=kind, attributes=attrs, end_on_exit=True) as current:
            yield current  # type: ignore[misc]

    def start_span(self, name: str, attributes: Mapping[str, Any]) -> Span:
        attrs = {k: _attribute(v) for k, v in attributes.items() if v is not None}
        return self.tracer.start_span(name, attributes=attrs)  # type: ignore[return-value]

    def traceparent(self) -> str | None:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    def current_ids(self) -> tuple[str, str] | None:
        span_context = trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            return None
        return trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id)

    def resource_spans(self) -> ResourceSpans:
        return ResourceSpans(self.tracer, otel_context.get_current())

    def shutdown(self) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        self.provider.shutdown()  # exports what is left: bounded by the exporter's timeout


class GuardedExporter(SpanExporter):
    """OTLP/HTTP export that fails quietly: one warning for the first failure, then drops batches a while.

    The OTLP exporter (and the HTTP stack it imports) is built on a background thread as soon as this
    object exists, so the command does not wait for it; the first export waits for it if need be.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._inner: SpanExporter | None = None
        self._ready = threading.Lock()
        self._down_until = 0.0
        self._warned = False
        self.exported = 0
        self.dropped = 0
        threading.Thread(target=self._warm, name="trainctl-otlp-setup", daemon=True).start()

    def _warm(self) -> None:
        with contextlib.suppress(Exception):  # the first export meets the same problem and reports it once
            self._exporter()

    def _exporter(self) -> SpanExporter:
        with self._ready:
            if self._inner is None:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                self._inner = OTLPSpanExporter(endpoint=self.url, timeout=EXPORT_TIMEOUT_S)
            return self._inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._down_until:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self._exporter().export(spans)
        except Exception as e:  # noqa: BLE001 - tracing must never fail the command
            result, why = SpanExportResult.FAILURE, f"{type(e).__name__}: {e}"
        else:
            why = "the collector did not accept the spans"
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
            return result
        self.dropped += len(spans)
        self._down_until = time.monotonic() + COOL_DOWN_S
        if not self._warned:
            self._warned = True
            endpoint = without_credentials(self.url)
            _warn("tracing.export_failed", endpoint=endpoint, reason=why, hint="traces of this run are lost; the run goes on")
        return result

    def shutdown(self) -> None:
        if self._inner is not None:
            self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _JobAttributes(SpanProcessor):
    """Copies the job bound to the logging context (``job_id``, ``target``, ``team``) onto each new span."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        bound = bound_job()
        for key, value in bound.items():
            span.set_attribute(key, value)


class ResourceSpans:
    """An engine event handler: one span per resource operation, from its step's start event to its end.

    Spans are children of the span current when the handler was made (events arrive on another thread)
    and take their times from when the events arrive (the engine's own timestamps are whole seconds).
    """

    def __init__(self, tracer: trace.Tracer, parent: otel_context.Context) -> None:
        self.tracer = tracer
        self.parent = parent
        self.job = bound_job()  # taken now: the event thread has no logging context
        self._open: dict[tuple[str, str], trace.Span] = {}
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        done = getattr(event, "res_outputs_event", None)
        failed = getattr(event, "res_op_failed_event", None)
        if pre is not None:
            self._start(pre.metadata)
        elif done is not None:
            self._end(done.metadata, error=None)
        elif failed is not None:
            self._end(failed.metadata, error=f"{_op(failed.metadata)} failed (status {getattr(failed, 'status', '?')})")

    def close(self) -> None:
        """End spans whose step never reported an end (the operation failed or was cancelled)."""
        with self._lock:
            left, self._open = list(self._open.values()), {}
        for span in left:
            span.set_attribute("pulumi.step.incomplete", True)
            span.end()

    def _start(self, meta: Any) -> None:
        op = _op(meta)
        if op in _SKIPPED_OPS:
            return
        name = meta.urn.rsplit("::", 1)[-1]
        attributes = {
            "pulumi.op": op,
            "pulumi.type": meta.type,
            "pulumi.urn": meta.urn,
            "pulumi.resource.name": name,
            **self.job,
        }
        span = self.tracer.start_span(f"{op} {name}", context=self.parent, attributes=attributes, start_time=time.time_ns())
        with self._lock:
            self._open[(meta.urn, op)] = span
            self.count += 1

    def _end(self, meta: Any, *, error: str | None) -> None:
        with self._lock:
            span = self._open.pop((meta.urn, _op(meta)), None)
        if span is None:
            return
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=time.time_ns())


def bound_job() -> dict[str, str]:
    """The ``trainctl.*`` attributes of this process's job (an agent's), else of the job bound to the
    logging context (empty outside a job)."""
    structlog = sys.modules.get("structlog.contextvars")
    if _AGENT_JOB or structlog is None:
        return _AGENT_JOB.copy()
    values = structlog.get_contextvars()
    return {attribute: str(values[key]) for key, attribute in JOB_ATTRIBUTES.items() if values.get(key)}


_AGENT_JOB: dict[str, str] = {}


def set_process_job(**values: str) -> None:
    """The job of a process that has no logging context (the agent): every span gets its attributes."""
    _AGENT_JOB.clear()
    _AGENT_JOB.update({attribute: values[key] for key, attribute in JOB_ATTRIBUTES.items() if values.get(key)})


def mark_failed(span: Span, description: str) -> None:
    """An error status on ``span``."""
    span.set_status(Status(StatusCode.ERROR, description))


def finish_root(root: Span, exit_code: int) -> None:
    """Mark a command's root span with its exit code (an error status unless it is 0)."""
    root.set_attribute("trainctl.exit_code", exit_code)
    if exit_code != 0:
        root.set_status(Status(StatusCode.ERROR, f"exit code {exit_code}"))


def _op(meta: Any) -> str:
    return str(getattr(meta.op, "value", meta.op))


def _attribute(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) else str(value)


def _quiet_sdk_logs() -> None:
    """The SDK logs export failures itself (to stderr, many lines): trainctl says it once, in its own words."""
    for name in ("opentelemetry", "urllib3.connectionpool"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _warn(event: str, **fields: Any) -> None:
    """One warning through trainctl's logging where it is installed (the CLI), else one stderr line (the agent)."""
    try:
        from orchestrator.logs import get_logger

        get_logger(__name__).warning(event, **fields)
    except ImportError:
        details = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"[trainctl] {event} {details}", file=sys.stderr, flush=True)
