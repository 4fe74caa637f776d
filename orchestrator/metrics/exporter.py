"""The Prometheus view of trainctl: the journal's counters and histograms, and gauges from the job index.

Counters and histograms are what the journal (``orchestrator.metrics.journal``) folded; gauges are
computed when scraped: jobs by state, cost accumulated and the burn rate by team and target, each
running job's cost so far, and, for running jobs whose observation is a local file read, the
heartbeat age and the newest metrics the training script reported. Per-job labels appear only on
gauges of running jobs, so label sets stay bounded. No engine process starts; the job index is
listed once per scrape (one request on an S3 backend) and only records that changed are read again.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from orchestrator import __version__
from orchestrator.cost.accrual import accrued_cost
from orchestrator.engine.locate import PULUMI_VERSION
from orchestrator.errors import InvalidInputError
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.metrics import journal
from orchestrator.vocabulary import JobState

# Targets whose observation of a running job reads files on this machine: cheap enough for every
# scrape. Others (AWS: S3 and EC2 calls) show heartbeat age and script metrics through `status`.
LIVE_TARGETS = frozenset({"local"})
# The classic text format (every trainctl name is a legacy-valid one): what every Prometheus 2.x reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class TrainctlCollector:
    """A prometheus_client collector folding the journal and the job index at each scrape."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._journal = journal.Reader(rt.settings.home)
        self._parsed: dict[str, tuple[str, JobRecord]] = {}  # index key -> (version, record) of the last scrape

    def collect(self) -> Iterator[Metric]:
        yield from journal_families(self._journal.read())
        yield from self._gauges(time.time())

    def _gauges(self, now: float) -> Iterator[Metric]:
        records = self._job_records()
        by_state: dict[tuple[str, str, str], float] = {}
        accumulated: dict[tuple[str, str], float] = {}
        rate: dict[tuple[str, str], float] = {}
        job_cost = GaugeMetricFamily(*_describe("trainctl_job_cost_usd"))
        heartbeat = GaugeMetricFamily(*_describe("trainctl_job_heartbeat_age_seconds"))
        script = GaugeMetricFamily(*_describe("trainctl_job_metric"))
        for record in records:
            group = (record.team, record.target)
            state_key = (record.state.value, record.target, record.team)
            by_state[state_key] = by_state.get(state_key, 0) + 1
            cost = record.cost_usd if record.cost_usd is not None else accrued_cost(record, now)
            accumulated[group] = accumulated.get(group, 0.0) + cost
            rate.setdefault(group, 0.0)
            if record.state != JobState.RUNNING:
                continue
            rate[group] += record.hourly_usd
            job_cost.add_metric([record.job_id, record.team, record.target], cost)
            self._live(record, now, heartbeat, script)
        yield _gauge("trainctl_jobs", by_state)
        yield _gauge("trainctl_cost_accumulated_usd", accumulated)
        yield _gauge("trainctl_cost_rate_usd_per_hour", rate)
        yield from (job_cost, heartbeat, script)
        yield build_info()

    def _live(self, record: JobRecord, now: float, heartbeat: GaugeMetricFamily, script: GaugeMetricFamily) -> None:
        metrics = record.metrics
        if record.target in LIVE_TARGETS:
            from orchestrator.targets import get_target

            seen = get_target(record.target).observe(record)
            if seen.updated_at:
                heartbeat.add_metric([record.job_id], max(0.0, now - seen.updated_at))
            metrics = seen.metrics or metrics
        for name, value in sorted(metrics.items()):
            script.add_metric([record.job_id, name], value)

    def _job_records(self) -> list[JobRecord]:
        """The job index: one listing per scrape; only records whose version changed are fetched and parsed again."""
        ledger = self.rt.ledger
        listing = ledger.listing()
        changed = [info for info in listing if self._parsed.get(info.key, ("", None))[0] != info.version]
        if not self._parsed:  # the first scrape reads everything through the index's own cache
            fetched = ledger.fetch(listing)
        else:
            fetched = {info.key: data for info in changed if (data := ledger.store.read(info.key)) is not None}
        parsed: dict[str, tuple[str, JobRecord]] = {}
        for info in listing:
            known = self._parsed.get(info.key)
            if known is not None and known[0] == info.version:
                parsed[info.key] = known
            elif info.key in fetched:
                with contextlib.suppress(ValueError):
                    parsed[info.key] = (info.version, JobRecord.model_validate_json(fetched[info.key]))
        self._parsed = parsed
        return [record for _, record in parsed.values()]


def journal_families(folded: journal.Folded) -> Iterator[Metric]:
    """The counters and histograms of ``folded``, every declared one (empty ones too, so dashboards find them)."""
    for metric in journal.METRICS.values():
        if metric.kind == "counter":
            counter = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            for (name, labels), value in sorted(folded.counters.items()):
                if name == metric.name:
                    counter.add_metric(list(labels), value)
            yield counter
        elif metric.kind == "histogram":
            histogram = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
            for (name, labels), state in sorted(folded.histograms.items()):
                if name == metric.name:
                    histogram.add_metric(list(labels), _cumulative(metric.buckets, state), sum_value=state[-1])
            yield histogram


def build_info() -> GaugeMetricFamily:
    """``trainctl_build_info{version, engine_version} 1``."""
    info = GaugeMetricFamily(*_describe("trainctl_build_info"))
    info.add_metric([__version__, PULUMI_VERSION], 1.0)
    return info


def registry_for(rt: Runtime) -> CollectorRegistry:
    """A registry holding only trainctl's collector (no process or platform metrics of the exporter itself)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrainctlCollector(rt))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format of ``registry``."""
    return generate_latest(registry)


def samples(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """Every metric of ``registry`` as plain data (`metrics show --output json`)."""
    return [
        {
            "name": f"{family.name}_total" if family.type == "counter" else family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in family.samples],
        }
        for family in registry.collect()
    ]


def serve(rt: Runtime, host: str, port: int, *, ready: Callable[[str], None]) -> None:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` until interrupted; a port that cannot be had is exit 2."""
    registry = registry_for(rt)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, CONTENT_TYPE, exposition(registry))
            elif path == "/healthz":
                self._answer(200, "text/plain; charset=utf-8", b"ok\n")
            else:
                self._answer(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

        def _answer(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes every few seconds would flood stderr

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise _listen_error(host, port, e) from e
    server.daemon_threads = True
    with server:
        ready(f"http://{_url_host(host)}:{server.server_address[1]}")
        server.serve_forever(poll_interval=0.2)


def _listen_error(host: str, port: int, error: OSError) -> InvalidInputError:
    if error.errno == errno.EADDRINUSE:
        return InvalidInputError(
            f"port {port} is in use on {host}: cannot serve metrics there",
            context={"host": host, "port": port},
            hint=f"stop what listens on port {port}, or choose another with --port",
        )
    return InvalidInputError(
        f"cannot serve metrics on {host}:{port}: {error.strerror or error}",
        context={"host": host, "port": port},
        hint="check --host (an address of this machine) and --port",
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _describe(name: str) -> tuple[str, str, None, list[str]]:
    metric = journal.METRICS[name]
    return metric.name, metric.help, None, list(metric.labels)


def _gauge(name: str, values: dict[Any, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(*_describe(name))
    for labels, value in sorted(values.items()):
        family.add_metric(list(labels), value)
    return family


def _cumulative(buckets: Iterable[float], state: list[float]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    running = 0.0
    for bound, count in zip(buckets, state, strict=False):
        running += count
        out.append((floatToGoString(bound), running))  # type: ignore[no-untyped-call]
    out.append(("+Inf", running + state[-2]))
    return out
