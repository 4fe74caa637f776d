"""The agent's spans and the cloud API call spans, with the SDK's in-memory exporter (no collector)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.store import LocalStore
from orchestrator.agent.supervisor import Supervisor
from orchestrator.agent.telemetry import agent_trace
from orchestrator.testing.moto_server import MotoServer

PARENT = f"00-{'ab' * 16}-{'cd' * 8}-01"
# Writes its TRACEPARENT where the test finds it, and a checkpoint for the sync to upload.
RUN = "mkdir -p checkpoints && echo x > checkpoints/c1 && printf '%s' \"$TRACEPARENT\" > traceparent && sleep 0.3"


def _config(tmp_path: Path, **overrides: Any) -> AgentConfig:
    workdir = tmp_path / "work"
    workdir.mkdir()
    values: dict[str, Any] = {
        "job_id": "traced-abc123",
        "workdir": str(workdir),
        "setup": "true",
        "run": RUN,
        "store_url": str(tmp_path / "store"),
        "heartbeat_s": 0.1,
        "grace_period_s": 1.0,
        "trace": {"traceparent": PARENT, "endpoint": "http://127.0.0.1:9/v1/traces", "target": "local", "team": "ml"},
        **overrides,
    }
    return AgentConfig(**values)


def _agent_spans(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_agent_spans_join_the_parent_and_the_run_gets_its_span(
    spans: InMemorySpanExporter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """agent > setup, run, checkpoint sync, teardown under the config's parent; the run's TRACEPARENT is its span's."""
    from orchestrator import tracing

    tracing.shutdown()  # the agent starts tracing itself, from its config
    assert tracing.start(tracing.AGENT_SERVICE, parent=PARENT, exporter=spans)
    config = _config(tmp_path)
    with agent_trace(config):
        code = Supervisor(config, LocalStore(tmp_path / "store")).run()
    assert code == 0
    found = _agent_spans(spans)
    assert {"agent", "setup", "run", "checkpoint sync", "teardown"} <= set(found)
    agent = found["agent"]
    assert format(agent.context.trace_id, "032x") == "ab" * 16
    assert agent.parent is not None and format(agent.parent.span_id, "016x") == "cd" * 8
    for name in ("setup", "run", "teardown"):
        assert found[name].parent.span_id == agent.context.span_id, name
        assert found[name].attributes["trainctl.job_id"] == "traced-abc123"
        assert found[name].attributes["trainctl.team"] == "ml"
    run = found["run"]
    seen = (Path(config.workdir) / "traceparent").read_text()
    assert seen.split("-")[1:3] == [format(run.context.trace_id, "032x"), format(run.context.span_id, "016x")]
    assert run.attributes["trainctl.exit_code"] == 0
    assert next(s for s in spans.get_finished_spans() if s.name == "checkpoint sync").attributes["trainctl.checkpoint"] == "c1"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    started = next(line for line in lines if line["event"] == "agent.run.started")
    assert started["trace_id"] == "ab" * 16 and started["span_id"] == format(run.context.span_id, "016x")
    assert started["job_id"] == "traced-abc123"


def test_preemption_is_a_span_from_the_notice_to_the_stopped_run(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    """A spot notice: a `preemption` span ends before teardown; the run stops with reason spot-interruption."""
    config = _config(tmp_path, run="sleep 30", setup=None)
    code = Supervisor(config, LocalStore(tmp_path / "store"), interruption=lambda: True).run()
    assert code != 0
    found = _agent_spans(spans)
    preemption, teardown = found["preemption"], found["teardown"]
    assert preemption.attributes["trainctl.stop_reason"] == "spot-interruption"
    assert preemption.end_time <= teardown.start_time
    assert teardown.attributes["trainctl.reason"] == "spot-interruption"


def test_untraced_agent_emits_no_span_and_passes_no_traceparent(tmp_path: Path) -> None:
    """Without a trace in its config the agent starts no tracing, and the run gets no TRACEPARENT."""
    from orchestrator import tracing

    config = _config(tmp_path, trace={})
    with agent_trace(config):
        assert not tracing.active()
        code = Supervisor(config, LocalStore(tmp_path / "store")).run()
    assert code == 0
    assert (Path(config.workdir) / "traceparent").read_text() == ""


def test_each_aws_api_call_is_a_client_span_with_its_request_id(spans: InMemorySpanExporter, moto: MotoServer) -> None:
    """Calls through trainctl's clients: one span each with service, operation, request id and retries; errors marked."""
    from orchestrator.cloud import aws
    from orchestrator.errors import TrainctlError

    s3 = aws.client("s3", region="us-east-1", max_attempts=aws.CALL_MAX_ATTEMPTS)
    aws.call("creating the test bucket", lambda: s3.create_bucket(Bucket="traced-bucket"))
    with pytest.raises(TrainctlError):
        aws.call("reading a missing object", lambda: s3.get_object(Bucket="traced-bucket", Key="missing"))
    finished = spans.get_finished_spans()
    create = next(s for s in finished if s.name == "s3.CreateBucket")
    assert create.attributes["rpc.system"] == "aws-api" and create.attributes["rpc.method"] == "CreateBucket"
    assert create.attributes["aws.request_id"] and create.attributes["aws.retries"] == 0
    assert create.attributes["http.response.status_code"] == 200
    outer = next(s for s in finished if s.name == "creating the test bucket")
    assert create.parent.span_id == outer.context.span_id and outer.attributes["trainctl.retries"] == 0
    missing = next(s for s in finished if s.name == "s3.GetObject")
    assert missing.status.status_code == StatusCode.ERROR and missing.attributes["aws.error_code"] == "NoSuchKey"


def test_failed_run_is_an_error_span_with_its_exit_code(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    """A run that exits 3: its span has an error status and trainctl.exit_code 3; teardown says why."""
    config = _config(tmp_path, run="exit 3", setup=None)
    assert Supervisor(config, LocalStore(tmp_path / "store")).run() == 3
    found = _agent_spans(spans)
    assert found["run"].status.status_code == StatusCode.ERROR
    assert found["run"].attributes["trainctl.exit_code"] == 3
    assert found["teardown"].attributes["trainctl.reason"] == "exit 3"
