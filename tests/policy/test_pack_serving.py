"""The launcher serves the pack over the analyzer plugin protocol (what the engine talks to), no engine needed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.policy.pack import pack_path
from tests.policy.conftest import JOB_TAGS


@pytest.fixture
def analyzer() -> Iterator[Any]:
    """The pack started through its launcher, as the engine starts it; an Analyzer gRPC stub connected to it."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {**os.environ, "PULUMI_PYTHON_CMD": sys.executable}
    proc = subprocess.Popen([str(pack_path()), "127.0.0.1:1"], stdout=subprocess.PIPE, env=env, start_new_session=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_served_pack_describes_every_policy_with_level_and_schema(analyzer: Any) -> None:
    """GetAnalyzerInfo: pack 'trainctl', every policy with its default level and config schema, defaults as initial config."""
    from google.protobuf import empty_pb2, json_format
    from pulumi.runtime.proto import analyzer_pb2

    from orchestrator.policy.pack import load_policies

    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "trainctl"
    assert [p.name for p in info.policies] == [p.name for p in load_policies()]
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels["spot-preferred"] == analyzer_pb2.ADVISORY and levels["required-tags"] == analyzer_pb2.MANDATORY
    hourly = next(p for p in info.policies if p.name == "max-hourly-cost")
    assert set(json_format.MessageToDict(hourly.configSchema.properties)) == {"maxUsd", "teams"}
    assert json_format.MessageToDict(info.initialConfig["max-hourly-cost"].properties) == {"maxUsd": 40.0}


def test_served_pack_analyzes_a_resource_with_the_configured_cap(analyzer: Any) -> None:
    """Configure a 1 USD/hour cap, then Analyze a local manifest at 2 USD/hour: one mandatory diagnostic with the fix."""
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2

    properties = struct_pb2.Struct()
    properties.update({"maxUsd": 1})
    config = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY, properties=properties)
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={"max-hourly-cost": config}))
    props = struct_pb2.Struct()
    props.update({"kind": "trainctl:job", "target": "local", "hourly_usd": 2.0, "team": "vision", "tags": JOB_TAGS})
    urn = "urn:pulumi:job::trainctl::pulumi-python:dynamic:Resource::job-manifest"
    request = analyzer_pb2.AnalyzeRequest(type="pulumi-python:dynamic:Resource", properties=props, urn=urn, name="job-manifest")
    diagnostics = [d for d in analyzer.Analyze(request).diagnostics if d.policyName == "max-hourly-cost"]
    [diagnostic] = diagnostics
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert "2.00 USD/hour" in diagnostic.message and "\nfix: " in diagnostic.message
