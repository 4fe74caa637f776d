"""A real Jaeger v2 for the trace tests: the binary tests/deps/jaeger.sh builds, on loopback ports only.

Started with a generated config: in-memory storage, an OTLP/HTTP receiver and the query API, each
on a free 127.0.0.1 port (Jaeger's own defaults bind every interface), its own telemetry off. A
trace is read back from the query API (``/api/v3/traces/{id}``, OTLP JSON) as a flat list of spans.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JAEGER_VERSION = "1.76.0"  # tests/deps/jaeger.sh builds this one
INSTALL_SCRIPT = "tests/deps/jaeger.sh"
CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{query_grpc_port}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def jaeger_binary() -> Path:
    """The built ``jaeger`` (``$XDG_CACHE_HOME/trainctl/jaeger/<version>/jaeger``); RuntimeError naming the script if missing."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    binary = cache / "trainctl" / "jaeger" / JAEGER_VERSION / "jaeger"
    if not os.access(binary, os.X_OK):
        raise RuntimeError(
            f"Jaeger v{JAEGER_VERSION} is not built ({binary} is missing): run `bash {INSTALL_SCRIPT}` (or `make test-deps`)"
        )
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class TraceSpan:
    """One span of a trace read back from Jaeger."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0


class Jaeger:
    """A running Jaeger; use as a context manager (stopped and its config removed on exit)."""

    def __init__(self) -> None:
        self.otlp_port = free_port()
        self.query_port = free_port()
        self.query_grpc_port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="trainctl-jaeger-"))
        self.log_path = self._dir / "jaeger.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def otlp_endpoint(self) -> str:
        """The base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP/HTTP)."""
        return f"http://127.0.0.1:{self.otlp_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def start(self, timeout_s: float = 30.0) -> Jaeger:
        config = self._dir / "config.yaml"
        ports = {"otlp_port": self.otlp_port, "query_port": self.query_port, "query_grpc_port": self.query_grpc_port}
        config.write_text(CONFIG.format(**ports))
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [str(jaeger_binary()), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"jaeger exited with {self._proc.returncode}: {self.log_path.read_text()[-2000:]}")
            if self._ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"jaeger did not answer on {self.query_url} within {timeout_s} s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Jaeger:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def services(self) -> list[str]:
        """The services that sent spans so far."""
        data = self._get("/api/services")
        return list(data.get("data") or [])

    def trace(self, trace_id: str) -> list[TraceSpan]:
        """Every span of ``trace_id`` stored so far (empty when Jaeger has none)."""
        try:
            data = self._get(f"/api/v3/traces/{trace_id}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return []
            raise
        return list(_spans(data.get("result") or {}))

    def _ready(self) -> bool:
        try:
            self._get("/api/services")
        except (urllib.error.URLError, OSError):
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            return probe.connect_ex(("127.0.0.1", self.otlp_port)) == 0

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.query_url + path, timeout=10) as answer:  # noqa: S310 - loopback test server
            return json.loads(answer.read())


def _spans(result: dict[str, Any]) -> list[TraceSpan]:
    """Flatten OTLP JSON (resourceSpans -> scopeSpans -> spans) into TraceSpans."""
    found: list[TraceSpan] = []
    for resource_spans in result.get("resourceSpans") or []:
        resource = _attributes(resource_spans.get("resource", {}).get("attributes") or [])
        service = str(resource.get("service.name", ""))
        for scope in resource_spans.get("scopeSpans") or []:
            for span in scope.get("spans") or []:
                found.append(
                    TraceSpan(
                        service=service,
                        name=span.get("name", ""),
                        trace_id=span.get("traceId", ""),
                        span_id=span.get("spanId", ""),
                        parent_id=span.get("parentSpanId") or None,
                        attributes=_attributes(span.get("attributes") or []),
                        start_ns=int(span.get("startTimeUnixNano") or 0),
                        end_ns=int(span.get("endTimeUnixNano") or 0),
                    )
                )
    return found


def _attributes(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP JSON key/value pairs as a dict of plain values."""
    values: dict[str, Any] = {}
    for pair in pairs:
        value = pair.get("value") or {}
        for kind in ("stringValue", "intValue", "boolValue", "doubleValue"):
            if kind in value:
                values[pair["key"]] = int(value[kind]) if kind == "intValue" else value[kind]
                break
    return values
