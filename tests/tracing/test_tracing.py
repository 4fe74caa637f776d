"""Traces without a collector: when tracing is on, the span tree of a command, its engine steps, cloud calls and logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from orchestrator import tracing
from orchestrator.cli.main import _traced_command
from orchestrator.testing.harness import trainctl_cmd

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "job.yaml"


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


@pytest.mark.parametrize(
    ("environ", "url", "engine"),
    [
        ({}, None, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces", "http://c:4318"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/v1/traces"}, "https://c/v1/traces", "https://c"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://o"},
            "http://c:9/x",
            "http://c:9/x",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}, None, None),
    ],
)
def test_endpoints_follow_the_standard_variables(environ: dict[str, str], url: str | None, engine: str | None) -> None:
    """The traces endpoint wins over the base one (+ /v1/traces); the engine's has no path; OTEL_SDK_DISABLED: off."""
    assert tracing.traces_url(environ) == url
    assert tracing.engine_endpoint(environ) == engine
    assert tracing.configured(environ) is (url is not None)


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["up", "job.yaml"], "up"),
        (["--log-format", "json", "--debug", "status", "j"], "status"),
        (["validate", "job.yaml"], None),
        (["metrics", "serve"], None),
        (["up", "--help"], None),
        (["--version"], None),
        (["nonsense"], None),
        ([], None),
    ],
)
def test_traced_commands_skip_help_and_the_fast_paths(argv: list[str], name: str | None) -> None:
    """Help, --version, unknown commands and validate/schema/completion are never traced (no SDK import)."""
    assert _traced_command(argv) == name


def _imports_otel(argv: list[str], env: dict[str, str]) -> str:
    probe = (
        "import sys\nfrom orchestrator.cli.main import run\n"
        f"code = run({argv!r})\n"
        "otel = sorted({m.split('.')[0] for m in sys.modules if m.startswith('opentelemetry')})\n"
        "print('OTEL', otel, code, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=env)
    return next(line for line in result.stderr.splitlines() if line.startswith("OTEL"))


def test_no_opentelemetry_import_unless_a_traced_command_runs_with_an_endpoint(trainctl_home: Path) -> None:
    """--help and validate never load OpenTelemetry, endpoint or not; ls loads it only when an endpoint is set."""
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    on = {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert _imports_otel(["--help"], on) == "OTEL [] 0"
    assert _imports_otel(["validate", str(QUICKSTART)], on) == "OTEL [] 0"
    assert _imports_otel(["ls"], base) == "OTEL [] 0"
    assert _imports_otel(["ls"], on) == "OTEL ['opentelemetry'] 0"  # the control: a traced command does load it


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:{port}", "not-a-url", "http://user:hunter2@127.0.0.1:{port}"])
def test_unreachable_or_bad_endpoint_is_one_warning_not_a_failure(trainctl_home: Path, endpoint: str) -> None:
    """A collector that is down (or an endpoint that is no URL) leaves the exit code alone and says so once."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**__import__("os").environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.format(port=port), "TRAINCTL_LOG_FORMAT": "json"}
    result = subprocess.run([*trainctl_cmd(), "ls"], capture_output=True, text=True, check=False, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "tracing.export_failed" in line]
    assert len(warnings) == 1, result.stderr
    assert json.loads(warnings[0])["level"] == "warning"
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr  # a password in the endpoint is never logged


def test_offline_check_is_one_tree_under_the_command_span(spans: InMemorySpanExporter, cli: Any) -> None:
    """`check` traces spec validation, compile and policy evaluation in one tree under `trainctl check`."""
    result = cli("check", str(QUICKSTART))
    assert result.exit_code == 0, result.stderr
    found = by_name(spans)
    root = found["trainctl check"]
    assert root.parent is None
    assert root.attributes is not None and root.attributes["trainctl.exit_code"] == 0
    for name in ("spec validation", "compile"):
        assert parent_of(found[name]) == root.context.span_id, name
    policy = found["policy evaluation"]
    assert policy.attributes is not None and policy.attributes["trainctl.policy.mode"] == "offline"
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {root.context.trace_id}
    assert found["compile"].resource.attributes["service.name"] == "trainctl"


def test_failing_command_marks_its_root_span_with_the_exit_code(spans: InMemorySpanExporter, cli: Any, tmp_path: Path) -> None:
    """A command that exits 2 (bad input) ends its root span with an error status and the exit code."""
    result = cli("check", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    root = by_name(spans)["trainctl check"]
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes is not None and root.attributes["trainctl.exit_code"] == 2


def test_incoming_traceparent_becomes_the_parent_and_leaves_the_environment(monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    """A TRACEPARENT around trainctl (a CI job's trace) parents the root span and is not passed on."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    monkeypatch.setenv("TRACEPARENT", parent)
    exporter = InMemorySpanExporter()
    seen: dict[str, str | None] = {}
    from orchestrator.tracing import sdk

    original = sdk.Tracing.__init__

    def with_memory(self: Any, service: str, url: str, *, parent: str | None = None, exporter: Any = None) -> None:
        seen["parent"] = parent
        original(self, service, url, parent=parent, exporter=memory)

    memory = exporter
    monkeypatch.setattr(sdk.Tracing, "__init__", with_memory)
    assert cli("ls").exit_code == 0
    import os

    assert "TRACEPARENT" not in os.environ
    root = by_name(exporter)["trainctl ls"]
    assert seen["parent"] == parent
    assert format(root.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert root.parent is not None and format(root.parent.span_id, "016x") == "b7ad6b7169203331"


def _meta(op: str, name: str, typ: str = "trainctl:local:Process") -> Any:
    return SimpleNamespace(op=op, urn=f"urn:pulumi:job::trainctl::{typ}::{name}", type=typ)


def test_engine_events_become_one_span_per_resource_operation(spans: InMemorySpanExporter) -> None:
    """A span per resource step (none for unchanged ones); a failed step is an error; an unfinished one is closed."""
    from orchestrator.logs import bind_job

    bind_job("job-1", target="local", team="ml")
    with tracing.span("pulumi update") as operation:
        handler = tracing.resource_spans()
        for event in (
            SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=_meta("create", "workdir"))),
            SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=_meta("same", "artifacts"))),
            SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=_meta("create", "training"))),
            SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=_meta("delete", "old"))),
            SimpleNamespace(res_outputs_event=SimpleNamespace(metadata=_meta("create", "workdir"))),
            SimpleNamespace(res_op_failed_event=SimpleNamespace(metadata=_meta("create", "training"), status=1)),
        ):
            handler(event)
        handler.close()
    import structlog

    structlog.contextvars.clear_contextvars()
    found = by_name(spans)
    assert set(found) == {"pulumi update", "create workdir", "create training", "delete old"}
    for name in ("create workdir", "create training", "delete old"):
        assert parent_of(found[name]) == operation.get_span_context().span_id
        attributes = found[name].attributes or {}
        assert attributes["trainctl.job_id"] == "job-1" and attributes["trainctl.team"] == "ml"
    assert (found["create workdir"].attributes or {})["pulumi.type"] == "trainctl:local:Process"
    assert found["create training"].status.status_code == StatusCode.ERROR
    assert (found["delete old"].attributes or {})["pulumi.step.incomplete"] is True
    assert found["create workdir"].end_time >= found["create workdir"].start_time  # type: ignore[operator]


def test_logs_carry_job_and_trace_ids(spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]) -> None:
    """While tracing, every event logged in a job's context has job_id, trace_id and span_id of the current span."""
    from orchestrator.logs import bind_job, configure_logging, get_logger

    configure_logging("json", "info")
    bind_job("job-2", target="local", team="ml")
    with tracing.span("work") as current:
        get_logger("test").info("something.happened")
    import structlog

    structlog.contextvars.clear_contextvars()
    event = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    context = current.get_span_context()
    assert event["job_id"] == "job-2"
    assert event["trace_id"] == format(context.trace_id, "032x")
    assert event["span_id"] == format(context.span_id, "016x")


def test_engine_env_joins_the_current_span(spans: InMemorySpanExporter) -> None:
    """An engine operation gets PULUMI_OPTION_OTEL_TRACES (no path) and the TRACEPARENT of the current span."""
    with tracing.span("pulumi update") as current:
        env = tracing.engine_env()
    context = current.get_span_context()
    assert set(env) == {"PULUMI_OPTION_OTEL_TRACES", "TRACEPARENT"}  # never PULUMI_OTEL_EXPORTER_OTLP_ENDPOINT
    assert env["PULUMI_OPTION_OTEL_TRACES"] == "http://127.0.0.1:9"
    assert env["TRACEPARENT"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")  # sampled flags follow


def test_docs_show_the_jaeger_config_the_tests_run() -> None:
    """docs/observability.md's Jaeger configuration is the harness's, with the default ports."""
    from orchestrator.testing.jaeger import CONFIG

    doc = (REPO / "docs" / "observability.md").read_text()
    block = doc.split("<!-- jaeger-config: begin -->")[1].split("<!-- jaeger-config: end -->")[0]
    shown = block.strip().removeprefix("```yaml").removesuffix("```").strip()
    assert shown == CONFIG.format(otlp_port=4318, query_port=16686, query_grpc_port=16685).strip()


def _bare_job_stack(env: dict[str, str]) -> Any:
    """A JobStack with only what `_traced` uses (its Automation workspace's env_vars and its job id): no engine."""
    from orchestrator.engine.jobstack import JobStack

    stack = object.__new__(JobStack)
    stack.job_id = "job-3"
    stack._stack = SimpleNamespace(workspace=SimpleNamespace(env_vars=env))  # type: ignore[assignment]
    return stack


def test_engine_operation_env_is_set_for_that_operation_only(spans: InMemorySpanExporter) -> None:
    """Inside an operation the workspace env joins its span; afterwards the shared env dict is back, untouched."""
    base = {"PULUMI_HOME": "/h"}
    stack = _bare_job_stack(base)
    with stack._traced("update") as traced:
        during = dict(stack._stack.workspace.env_vars)
        handler = traced(None)
        handler(SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=_meta("create", "workdir"))))
        handler(SimpleNamespace(res_outputs_event=SimpleNamespace(metadata=_meta("create", "workdir"))))
    operation = by_name(spans)["pulumi update"]
    assert during["PULUMI_HOME"] == "/h"
    assert during["TRACEPARENT"].split("-")[2] == format(operation.context.span_id, "016x")
    assert stack._stack.workspace.env_vars is base and base == {"PULUMI_HOME": "/h"}
    assert (operation.attributes or {})["pulumi.resource_operations"] == 1
    assert parent_of(by_name(spans)["create workdir"]) == operation.context.span_id


def test_engine_operation_untraced_when_tracing_is_off() -> None:
    """With tracing off an operation gets no span, no trace variables, and its handlers unchanged."""
    base = {"PULUMI_HOME": "/h"}
    stack = _bare_job_stack(base)

    def handler(event: Any) -> None:
        pass

    with stack._traced("update") as traced:
        assert traced(handler) is handler and traced(None) is None
        assert stack._stack.workspace.env_vars == {"PULUMI_HOME": "/h"}


def test_missing_sdk_leaves_tracing_off_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent whose machine lacks the SDK runs untraced and says so once."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "orchestrator.tracing.sdk", None)
    assert tracing.start(tracing.AGENT_SERVICE) is False
    assert not tracing.active()
    assert "tracing is off: the OpenTelemetry SDK is not installed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("https://user:s3cret@collector.example/v1/traces", "https://collector.example/v1/traces"),
        ("http://token@[::1]:4318/v1/traces", "http://[::1]:4318/v1/traces"),
    ],
)
def test_endpoint_credentials_never_reach_the_agent_config_or_the_warning(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter, url: str, shown: str
) -> None:
    """A user name or password in the endpoint URL is dropped from the agent's trace context."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)
    assert tracing.without_credentials(url) == shown
    with tracing.span("allocate"):
        context = tracing.agent_context(job_id="j", target="local", team="t")
    assert context["endpoint"] == shown
    assert "s3cret" not in json.dumps(context)
