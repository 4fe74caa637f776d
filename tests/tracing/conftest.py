"""Tracing fixtures: the SDK's in-memory exporter instead of OTLP (the real collector is in test_jaeger.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import tracing


class KeptSpans(InMemorySpanExporter):
    """The in-memory exporter, keeping its spans after tracing shuts down (the agent and CLI shut it down themselves)."""

    def shutdown(self) -> None:
        pass


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every ended span kept in memory; off again afterwards."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # never reached: spans stay in memory
    exporter = KeptSpans()
    assert tracing.start(tracing.CLI_SERVICE, exporter=exporter)
    yield exporter
    tracing.shutdown()
