"""One span per cloud API call: botocore's ``before-call``/``after-call`` events on clients built by
``orchestrator.cloud.aws`` (this module never imports boto3; it only handles the events' values).

Each span is a CLIENT span ``<service>.<Operation>`` with the OpenTelemetry AWS attributes
(``rpc.system``, ``rpc.service``, ``rpc.method``, ``aws.request_id``), the HTTP status and botocore's
own retries of the request (``aws.retries``).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

_KEY = "trainctl_span"  # where the span waits in botocore's per-request context dict


class CallSpans:
    """botocore event handlers for one client of ``service``."""

    def __init__(self, tracer: trace.Tracer, service: str, job: dict[str, str]) -> None:
        self.tracer = tracer
        self.service = service
        self.job = job

    def register(self, events: Any) -> None:
        """Hook the handlers into a client's event system (``client.meta.events``)."""
        events.register("before-call", self.before)
        events.register("after-call", self.after)
        events.register("after-call-error", self.failed)

    def before(self, *, model: Any, context: dict[str, Any], **_: Any) -> None:
        from orchestrator.tracing.sdk import bound_job

        attributes = {
            "rpc.system": "aws-api",
            "rpc.service": self.service,
            "rpc.method": model.name,
            **(bound_job() or self.job),
        }
        context[_KEY] = self.tracer.start_span(f"{self.service}.{model.name}", kind=SpanKind.CLIENT, attributes=attributes)

    def after(self, *, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        span = context.pop(_KEY, None)
        if span is None:
            return
        metadata = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
        request_id = metadata.get("RequestId") or metadata.get("HTTPHeaders", {}).get("x-amz-request-id")
        if request_id:
            span.set_attribute("aws.request_id", str(request_id))
        status = metadata.get("HTTPStatusCode")
        if isinstance(status, int):
            span.set_attribute("http.response.status_code", status)
        span.set_attribute("aws.retries", int(metadata.get("RetryAttempts") or 0))
        error = parsed.get("Error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and error.get("Code"):
            span.set_attribute("aws.error_code", str(error["Code"]))
            span.set_status(Status(StatusCode.ERROR, str(error.get("Code"))))
        span.end()

    def failed(self, *, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        span = context.pop(_KEY, None)
        if span is None:
            return
        span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
        span.end()
