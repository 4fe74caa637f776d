"""The agent's traces and log lines.

The agent joins the trace of the operation that started it when its config carries a trace context
(``AgentConfig.trace``, set by trainctl only while tracing is on): parent ``TRACEPARENT`` (the local
target puts it in the agent's environment; on AWS it comes from the config), and spans to the
config's OTLP endpoint, as service ``trainctl-agent``. Its spans: ``agent`` (the whole supervision),
``setup``, ``run`` (one per attempt), ``checkpoint sync``, ``preemption`` and ``teardown``; each carries
the job's ``trainctl.*`` attributes. The training process gets the ``run`` span as its
``TRACEPARENT`` (and the endpoint), so a script that uses OpenTelemetry joins the job's trace.

Log lines (JSON on stderr, the agent's log) carry ``job_id`` and, while tracing, ``trace_id`` and
``span_id``. Without the OpenTelemetry SDK (an instance that lacks it) the agent runs untraced.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator import tracing
from orchestrator.agent.config import AgentConfig


@contextmanager
def agent_trace(config: AgentConfig) -> Iterator[None]:
    """The agent's root span around the block, exported when it ends (nothing when the config has no trace)."""
    context = config.trace
    if not context:
        yield
        return
    endpoint = context.get("endpoint")
    if endpoint and not tracing.configured():
        os.environ[tracing.TRACES_ENDPOINT_VAR] = endpoint  # on an instance: the endpoint trainctl used
    parent = os.environ.get(tracing.TRACEPARENT_VAR) or context.get("traceparent")
    if not tracing.start(tracing.AGENT_SERVICE, parent=parent):
        yield
        return
    from orchestrator.tracing.sdk import set_process_job

    set_process_job(job_id=config.job_id, target=context.get("target", ""), team=context.get("team", ""))
    try:
        with tracing.span("agent", **{"trainctl.node_rank": config.node_rank}):
            yield
    finally:
        tracing.shutdown()
        set_process_job()


def run_trace_env() -> dict[str, str]:
    """What a training process needs to join the current span: ``TRACEPARENT`` and the OTLP endpoint."""
    parent = tracing.traceparent()
    url = tracing.traces_url()
    if parent is None or url is None:
        return {}
    return {tracing.TRACEPARENT_VAR: parent, tracing.TRACES_ENDPOINT_VAR: url}


def log_event(job_id: str, event: str, **fields: Any) -> None:
    """One JSON log line on stderr with the job id and, while tracing, the current trace and span ids."""
    line: dict[str, Any] = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, "job_id": job_id}
    ids = tracing.current_ids()
    if ids is not None:
        line["trace_id"], line["span_id"] = ids
    line.update(fields)
    print(json.dumps(line, sort_keys=True), file=sys.stderr, flush=True)
