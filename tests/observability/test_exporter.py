"""`trainctl metrics show/serve` and the Pushgateway push: what they expose, and how they fail."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.metrics import journal
from orchestrator.testing.harness import trainctl_cmd
from tests.observability.conftest import write_fleet

REPO = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = text_string_to_metric_families(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in families for s in family.samples}


def _get(url: str) -> Any:
    return urllib.request.urlopen(url, timeout=10)  # noqa: S310 - an http URL on 127.0.0.1 the test built


def test_metrics_show_exposes_counters_and_gauges_from_the_index(cli: Any, trainctl_home: Path) -> None:
    """Journal counters and gauges of the job index: states, cost, burn rate, running job's cost, heartbeat, script metrics."""
    write_fleet(trainctl_home)
    journal.activate(trainctl_home)
    journal.record("trainctl_training_jobs_failed_total", target="local", team="nlp", reason="exit_code")
    journal.deactivate()
    result = cli("metrics", "show")
    assert result.exit_code == 0, result.stderr
    samples = _samples(result.stdout)
    assert samples[("trainctl_training_jobs_failed_total", (("reason", "exit_code"), ("target", "local"), ("team", "nlp")))] == 1
    assert samples[("trainctl_jobs", (("state", "running"), ("target", "local"), ("team", "vision")))] == 1
    assert samples[("trainctl_jobs", (("state", "failed"), ("target", "local"), ("team", "nlp")))] == 1
    assert samples[("trainctl_cost_rate_usd_per_hour", (("target", "local"), ("team", "vision")))] == 3.6
    assert samples[("trainctl_cost_rate_usd_per_hour", (("target", "local"), ("team", "nlp")))] == 0
    running_cost = samples[("trainctl_job_cost_usd", (("job_id", "train-aaaaaa"), ("target", "local"), ("team", "vision")))]
    assert 0.09 < running_cost < 0.2  # $3.6/h for 100 s and counting
    accumulated = samples[("trainctl_cost_accumulated_usd", (("target", "local"), ("team", "vision")))]
    assert accumulated == pytest.approx(2.0 + running_cost, abs=0.01)
    assert 4 < samples[("trainctl_job_heartbeat_age_seconds", (("job_id", "train-aaaaaa"),))] < 60
    assert samples[("trainctl_job_metric", (("job_id", "train-aaaaaa"), ("name", "loss")))] == 0.25
    assert not any(name == "trainctl_job_cost_usd" and ("job_id", "done-bbbbbb") in labels for name, labels in samples)
    assert samples[("trainctl_build_info", (("engine_version", "3.274.1"), ("version", "0.1.0")))] == 1


def test_metrics_show_json_lists_every_contract_metric(cli: Any) -> None:
    """`metrics show --output json` names every metric of the contract, with its type and samples."""
    result = cli("metrics", "show", "--output", "json")
    assert result.exit_code == 0, result.stderr
    families = {f["name"]: f for f in json.loads(result.stdout)["metrics"]}
    assert set(families) == set(journal.METRICS)
    assert families["trainctl_cloud_api_call_duration_seconds"]["type"] == "histogram"
    assert families["trainctl_build_info"]["samples"][0]["value"] == 1.0


def test_metrics_serve_refuses_a_port_in_use_with_exit_2(cli: Any) -> None:
    """A port something listens on already: exit 2, and the message names the port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("metrics", "serve", "--port", str(port))
    assert result.exit_code == 2
    assert f"port {port} is in use" in result.stderr and "Traceback" not in result.stderr


def test_metrics_serve_answers_metrics_and_healthz(trainctl_home: Path) -> None:
    """The exporter serves /metrics in the Prometheus format and /healthz; unknown paths are 404."""
    write_fleet(trainctl_home)
    env = {**os.environ, "TRAINCTL_HOME": str(trainctl_home)}
    server = subprocess.Popen([*trainctl_cmd(), "metrics", "serve", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        base = line.split()[1].removesuffix("/metrics")
        with _get(f"{base}/healthz") as answer:
            assert answer.status == 200 and answer.read() == b"ok\n"
        with _get(f"{base}/metrics") as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            samples = _samples(answer.read().decode())
        assert samples[("trainctl_jobs", (("state", "succeeded"), ("target", "local"), ("team", "vision")))] == 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(f"{base}/nothing")
        assert missing.value.code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("url", ["not a url", "http://127.0.0.1:{closed}", "ftp://127.0.0.1/nowhere"])
def test_a_bad_or_unreachable_pushgateway_is_one_warning(cli: Any, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """TRAINCTL_PUSHGATEWAY_URL that is no URL, or where nothing listens: the command still succeeds, with one warning."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # free once the socket closes: nothing listens there
    monkeypatch.setenv("TRAINCTL_PUSHGATEWAY_URL", url.format(closed=closed))
    result = cli("ls", "--output", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"version": 1, "jobs": []}
    assert result.stderr.count("warning: metrics not pushed to the Pushgateway") == 1


@pytest.mark.parametrize("argv", [["--help"], ["validate", str(REPO / "examples/quickstart/job.yaml")]])
def test_help_and_validate_import_no_metrics_or_tracing_library(argv: list[str]) -> None:
    """`trainctl --help` and `validate` import neither prometheus_client nor any opentelemetry module."""
    probe = (
        "import sys\nfrom orchestrator.cli.main import run\n"
        f"code = run({argv!r})\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'prometheus_client', 'opentelemetry'})\n"
        "print('LOADED', loaded, code, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRAINCTL_PUSHGATEWAY"))}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=env)
    assert "LOADED [] 0" in result.stderr, result.stderr


def test_a_pushgateway_password_never_reaches_the_warning(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway URL with a user and password that fails: the warning names the gateway without the password."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("TRAINCTL_PUSHGATEWAY_URL", f"http://ci:s3cret-token@127.0.0.1:{closed}")
    result = cli("ls")
    assert result.exit_code == 0
    assert f"http://ci:***@127.0.0.1:{closed}" in result.stderr and "s3cret-token" not in result.stderr
