"""Real Prometheus scraping `trainctl metrics serve`, and a real Pushgateway receiving a command's push.

Prometheus runs with the scrape configuration docs/observability.md shows (its own ports, a 1 s
interval); PromQL through its HTTP API must return the counts of the jobs that ran. The binaries come
from tests/deps/prometheus.sh; a missing one fails these tests naming it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.testing.harness import Trainctl, wait_until
from orchestrator.testing.prometheus import MetricsExporter, Prometheus, Pushgateway, documented_scrape_config
from tests.observability.test_grafana import panel_queries

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy of examples/quickstart (its job.yaml)."""
    shutil.copytree(REPO / "examples" / "quickstart", tmp_path / "quickstart")
    return tmp_path / "quickstart" / "job.yaml"


@pytest.fixture
def prometheus(tc: Trainctl) -> Iterator[Prometheus]:
    """`metrics serve` for the test's home, and Prometheus scraping it with the documented configuration."""
    exporter = MetricsExporter().start(tc.env)
    server = Prometheus()
    try:
        config = documented_scrape_config(REPO / "docs" / "observability.md", target=exporter.address, interval="1s")
        server.start(config)
        server.wait_for_scrape("trainctl")
        yield server
    finally:
        server.stop()
        exporter.stop()


def test_promql_counts_a_quickstart_and_a_failing_job(tc: Trainctl, prometheus: Prometheus, quickstart: Path, make_job) -> None:
    """After the quickstart (succeeds) and a job whose run exits 3, Prometheus answers the right counters and gauges."""
    assert tc.run("up", str(quickstart)).returncode == 0
    failing = tc.run("up", str(make_job(steps=3, env={"FAIL_AT": "1"})))
    assert failing.returncode == 6, failing.stderr

    def answers(promql: str, expected: float) -> None:
        """Prometheus's newest sample of ``promql`` is ``expected`` (it may lag the jobs by a scrape)."""
        wait_until(lambda: prometheus.value(promql) == expected, timeout=60, interval=0.5)

    answers("sum(trainctl_training_jobs_started_total)", 2)
    answers('trainctl_training_jobs_completed_total{team="ml-platform",target="local"}', 1)
    answers('trainctl_training_jobs_failed_total{team="test-team",target="local",reason="exit_code"}', 1)
    answers("sum(trainctl_training_jobs_failed_total)", 1)
    answers("sum(trainctl_training_jobs_completed_total)", 1)
    answers('trainctl_jobs{state="succeeded",team="ml-platform"}', 1)
    answers('trainctl_jobs{state="failed",team="test-team"}', 1)
    answers('trainctl_resource_allocation_duration_seconds_count{target="local"}', 2)
    answers('count(trainctl_checkpoint_sync_duration_seconds_count{target="local"} > 0)', 1)
    answers('trainctl_build_info{engine_version="3.274.1"}', 1)
    for expr in panel_queries():  # the Grafana dashboard's queries are valid PromQL for this Prometheus
        prometheus.query(expr.replace("$__rate_interval", "1m").replace("$team", ".*").replace("$metric", ".*"))
    assert len(prometheus.query('sum by (state) (trainctl_jobs{team=~".*"})')) == 2


def test_the_pushgateway_receives_a_commands_push(tc: Trainctl, quickstart: Path) -> None:
    """`up` with TRAINCTL_PUSHGATEWAY_URL pushes its run's counters, grouped by job id and command."""
    gateway = Pushgateway().start()
    try:
        result = tc.run("up", str(quickstart), env={"TRAINCTL_PUSHGATEWAY_URL": gateway.url})
        assert result.returncode == 0, result.stderr
        assert "warning: metrics not pushed" not in result.stderr
        (job_id,) = [job["job_id"] for job in tc.jobs()]
        samples = [s for f in text_string_to_metric_families(gateway.metrics_text()) for s in f.samples]
    finally:
        gateway.stop()
    pushed = {s.name: s for s in samples if s.labels.get("job") == "trainctl"}
    completed = pushed["trainctl_training_jobs_completed_total"]
    assert completed.value == 1
    assert completed.labels == {
        "job": "trainctl",
        "job_id": job_id,
        "command": "up",
        "instance": "",
        "team": "ml-platform",
        "target": "local",
    }
    assert pushed["trainctl_training_jobs_started_total"].value == 1
    assert "trainctl_build_info" in pushed


def test_a_missing_prometheus_fails_naming_its_installer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the binaries the tests fail (never skip), and say which script installs them."""
    from orchestrator.testing.prometheus import binary

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(AssertionError, match=r"tests/deps/prometheus\.sh"):
        binary("prometheus")
