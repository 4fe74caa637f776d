"""Tracing fixtures: the SDK's in-memory exporter instead of OTLP (the real collector is in test_jaeger.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import tracing


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every ended span kept in memory; off again afterwards."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # never reached: spans stay in memory
    exporter = InMemorySpanExporter()
    assert tracing.start(tracing.CLI_SERVICE, exporter=exporter)
    yield exporter
    tracing.shutdown()
