"""A real Jaeger (tests/deps/jaeger.sh) receives the trace of `up`: CLI, engine, resource and agent spans in one tree."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.jaeger import Jaeger, TraceSpan

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def jaeger() -> Iterator[Jaeger]:
    """Jaeger v2 on free loopback ports (memory storage, OTLP/HTTP in, query API out); fails if it is not built."""
    try:
        server = Jaeger().start()
    except RuntimeError as e:
        pytest.fail(str(e))
    yield server
    server.stop()


def ancestors(span: TraceSpan, spans: dict[str, TraceSpan]) -> list[str]:
    """Names of ``span``'s ancestors, nearest first."""
    chain: list[str] = []
    while span.parent_id is not None:
        span = spans[span.parent_id]
        chain.append(span.name)
    return chain


def complete(jaeger: Jaeger, trace_id: str) -> list[TraceSpan] | None:
    """The trace once the agent's spans (it exports when it exits) and the engine's are in."""
    found = jaeger.trace(trace_id)
    names = {(s.service, s.name) for s in found}
    wanted = {("trainctl", "trainctl up"), ("pulumi-cli", "pulumi"), ("trainctl-agent", "agent"), ("trainctl-agent", "teardown")}
    return found if wanted <= names else None


def test_up_is_one_trace_from_cli_through_engine_to_agent(tc: Trainctl, make_job: Callable[..., Path], jaeger: Jaeger) -> None:
    """`up` with OTEL_EXPORTER_OTLP_ENDPOINT: status names its trace, and Jaeger holds one tree with every layer in it."""
    spec = make_job("traced", steps=4, step_s=0.1, extra="limits:\n  max_runtime: 5m\n")
    up = tc.run("up", str(spec), env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint}, timeout=180)
    assert up.returncode == 0, up.stderr
    assert "tracing.export_failed" not in up.stderr
    job_id = only_job(tc)["job_id"]

    status = tc.json("status", job_id)  # tracing off for this one: it changes nothing
    trace_id = status["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id), status

    found = wait_until(lambda: complete(jaeger, trace_id), timeout=60, interval=0.5)
    spans = {s.span_id: s for s in found}
    assert {s.trace_id for s in found} == {trace_id}
    roots = [s for s in found if s.parent_id is None]
    assert [(r.service, r.name) for r in roots] == [("trainctl", "trainctl up")]  # one tree ...
    orphans = [s.name for s in found if s.parent_id is not None and s.parent_id not in spans]
    assert orphans == []  # ... with every parent present
    root = roots[0]
    assert root.attributes["trainctl.job_id"] == job_id
    assert root.attributes["trainctl.target"] == "local" and root.attributes["trainctl.team"] == "test-team"

    def one(service: str, name: str) -> TraceSpan:
        matching = [s for s in found if s.service == service and s.name == name]
        assert matching, f"no span {name!r} of {service}"
        return matching[0]

    for name in ("spec validation", "compile", "allocate"):
        assert ancestors(one("trainctl", name), spans)[-1] == "trainctl up", name
    update = one("trainctl", "pulumi update")
    assert ancestors(update, spans)[:2] == ["allocate", "trainctl up"]
    assert ancestors(one("trainctl", "policy evaluation"), spans)[0] == "allocate"
    # The engine joined the operation's span: its own root span `pulumi` is a child of `pulumi update`.
    engine = one("pulumi-cli", "pulumi")
    assert engine.parent_id == update.span_id
    assert sum(1 for s in found if s.service == "pulumi-cli") > 5
    # One span per resource step, under the operation, with the engine's resource type.
    training = one("trainctl", "create training")
    assert training.parent_id == update.span_id
    assert training.attributes["pulumi.op"] == "create" and training.attributes["trainctl.job_id"] == job_id
    assert training.end_ns >= training.start_ns > 0
    # The agent's spans: its supervision under the allocation that started it, the phases under it.
    agent = one("trainctl-agent", "agent")
    assert ancestors(agent, spans)[-1] == "trainctl up"
    for name in ("run", "teardown"):
        span = one("trainctl-agent", name)
        assert span.parent_id == agent.span_id, name
        assert span.attributes["trainctl.job_id"] == job_id and span.attributes["trainctl.team"] == "test-team"
    assert any(s.name == "checkpoint sync" for s in found if s.service == "trainctl-agent")
    assert one("trainctl-agent", "run").attributes["trainctl.exit_code"] == 0
    # The teardown `up` ran after the run (attached) is in the same trace.
    assert ancestors(one("trainctl", "pulumi destroy"), spans)[-1] == "trainctl up"


def test_training_process_joins_the_agent_run_span(tc: Trainctl, make_job: Callable[..., Path], jaeger: Jaeger) -> None:
    """The run gets the TRACEPARENT of the agent's `run` span and the endpoint; the agent's log lines carry the ids."""
    spec = make_job("traced-env", steps=2, step_s=0.05)
    script = spec.parent / "trainer.py"
    script.write_text(
        "import os, json\n"
        "json.dump({k: os.environ.get(k) for k in ('TRACEPARENT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')},"
        " open(os.path.join(os.environ['TRAINCTL_ARTIFACT_DIR'], 'env.json'), 'w'))\n"
    )
    up = tc.run("up", str(spec), env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint}, timeout=180)
    assert up.returncode == 0, up.stderr
    job = only_job(tc)
    artifacts = tc.home / "artifacts" / job["job_id"]
    import json

    seen = json.loads((artifacts / "outputs" / "env.json").read_text())
    assert seen["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == jaeger.otlp_endpoint + "/v1/traces"
    _, trace_id, span_id, _ = seen["TRACEPARENT"].split("-")
    assert trace_id == job["trace_id"]
    found = wait_until(lambda: complete(jaeger, trace_id), timeout=60, interval=0.5)
    run = next(s for s in found if s.service == "trainctl-agent" and s.name == "run")
    assert run.span_id == span_id
    lines = [json.loads(line) for line in (artifacts / "logs" / "agent.log").read_text().splitlines() if line.startswith("{")]
    started = next(line for line in lines if line["event"] == "agent.run.started")
    assert (started["job_id"], started["trace_id"], started["span_id"]) == (job["job_id"], trace_id, span_id)


def test_detached_up_watcher_and_teardown_continue_the_trace(tc: Trainctl, make_job: Callable[..., Path], jaeger: Jaeger) -> None:
    """`up --detach`: the watcher it leaves and the teardown at the job's end are in the trace of that `up`."""
    spec = make_job("traced-detached", steps=3, step_s=0.1)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint, "TRAINCTL_WATCH_INTERVAL_S": "0.5"}
    up = tc.run("up", "--detach", str(spec), env=env, timeout=180)
    assert up.returncode == 0, up.stderr
    job_id = only_job(tc)["job_id"]
    wait_until(lambda: tc.json("status", job_id)["torn_down"], timeout=120, interval=0.5)
    trace_id = tc.json("status", job_id)["trace_id"]

    def with_teardown() -> list[TraceSpan] | None:
        found = jaeger.trace(trace_id)
        names = {s.name for s in found}
        return found if {"trainctl up", "trainctl watch", "pulumi destroy", "teardown"} <= names else None

    found = wait_until(with_teardown, timeout=60, interval=0.5)
    spans = {s.span_id: s for s in found}
    watch = next(s for s in found if s.name == "trainctl watch")
    assert ancestors(watch, spans)[-1] == "trainctl up"
    destroy = next(s for s in found if s.name == "pulumi destroy")
    assert ancestors(destroy, spans)[-1] == "trainctl up"  # whoever tore it down (watcher or finalize) joined
