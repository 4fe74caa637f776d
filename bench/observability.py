"""Observability overheads. Prints tables; asserts nothing.

1. Tracing: `trainctl up --detach` of the quickstart (a fresh process and a fresh trainctl home each
   time: CLI start, spec load, compile, stack create, engine up, job record), with tracing off, on
   (OTLP/HTTP to a real Jaeger on loopback, the engine joining the trace) and on with the collector
   down (an endpoint nothing listens on), interleaved round by round so that load on the machine hits
   every mode alike. Each job is left to finish and be torn down before the next measurement. Wall
   time and CPU (the whole process tree: trainctl, its engine and plugins) per mode, median of the
   rounds. Target: tracing on costs at most 3 % more wall time than off; the collector down at most
   the bounded export attempt (2 s) more.

2. The metrics store: 10,000 recorded commands (each the events a command records: an `up` records
   its allocation time, a start, cloud API calls and an end; recorded by 4 processes at once, as many
   CLI processes would, through the same journal and compaction) and 1,000 jobs in the job index
   (10 of them running, with live status files and script metrics). Then the scrape time of
   `/metrics` from a real `trainctl metrics serve` (first scrape and the median/p95 of the next ones),
   the wall time of a whole `trainctl metrics show` process, and the disk the metrics store takes.
   Targets: a scrape under 100 ms; the store under 20 MB.

The tracing part needs the engine (`trainctl engine install`) and Jaeger (`bash tests/deps/jaeger.sh`);
the metrics part needs neither. `--only metrics` or `--only tracing` runs one part.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.home import engine_cache_dir

REPO = Path(__file__).resolve().parent.parent
TRAINCTL = str(Path(sys.executable).parent / "trainctl")
QUICKSTART = REPO / "examples" / "quickstart" / "job.yaml"
TRACE_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "TRACEPARENT")


def _env(home: Path, endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TRACE_VARS}
    env.update(
        TRAINCTL_HOME=str(home),
        TRAINCTL_ENGINE_DIR=os.environ.get("TRAINCTL_ENGINE_DIR") or str(engine_cache_dir()),
        TRAINCTL_LOG_LEVEL="warning",
        TRAINCTL_WATCH_INTERVAL_S="1",
    )
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    return env


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _up_detach(home: Path, endpoint: str | None) -> tuple[float, float, str]:
    """One `up --detach` as a fresh process: (wall s, CPU s of its process tree, job id)."""
    env = _env(home, endpoint)
    cpu = _children_cpu()
    started = time.perf_counter()
    argv = [TRAINCTL, "--log-format", "json", "up", "--detach", str(QUICKSTART)]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"up --detach failed ({result.returncode}):\n{result.stderr}")
    listing = [TRAINCTL, "ls", "--output", "json"]
    listed = subprocess.run(listing, env=_env(home, None), capture_output=True, text=True, check=True)
    job_id = json.loads(listed.stdout)["jobs"][0]["job_id"]
    return wall, _children_cpu() - cpu, job_id


def _wait_torn_down(home: Path, job_id: str, timeout_s: float = 120.0) -> None:
    """Let the job run, end and be torn down (its agent and watcher idle again) before the next measurement."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = subprocess.run(
            [TRAINCTL, "status", job_id, "--output", "json"], env=_env(home, None), capture_output=True, text=True, check=False
        )
        if shown.returncode == 0:
            status = json.loads(shown.stdout)
            if status.get("torn_down") and status.get("state") not in ("running", "provisioning"):
                return
        time.sleep(0.5)
    sys.exit(f"job {job_id} was not torn down within {timeout_s} s")


def tracing_overhead(rounds: int) -> None:
    from orchestrator.testing.jaeger import Jaeger

    with Jaeger() as jaeger, tempfile.TemporaryDirectory(prefix="bench-observability-") as tmp:
        modes = {"off": None, "on (Jaeger)": jaeger.otlp_endpoint, "on, collector down": f"http://127.0.0.1:{_closed_port()}"}
        samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
        _up_detach(Path(tmp) / "warm-up", None)  # page cache, plugin and Python bytecode caches warm
        for i in range(rounds):
            for mode, endpoint in modes.items():
                home = Path(tmp) / f"round{i}-mode{list(modes).index(mode)}"  # no comma: the engine splits flag values on it
                wall, cpu, job_id = _up_detach(home, endpoint)
                samples[mode].append((wall, cpu))
                _wait_torn_down(home, job_id)
        traced = [s for s in jaeger.services() if s in ("trainctl", "pulumi-cli", "trainctl-agent")]
    base_wall = statistics.median(w for w, _ in samples["off"])
    base_cpu = statistics.median(c for _, c in samples["off"])
    print(f"\nTracing overhead on `up --detach` of the quickstart ({rounds} rounds, median; Jaeger saw {', '.join(traced)})")
    print(f"{'mode':<22} {'wall s':>8} {'vs off':>8} {'CPU s':>8} {'vs off':>8}  all wall s")
    for mode, values in samples.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        spread = " ".join(f"{w:.2f}" for w, _ in values)
        more_wall, more_cpu = 100 * (wall / base_wall - 1), 100 * (cpu / base_cpu - 1)
        print(f"{mode:<22} {wall:>8.2f} {more_wall:>+7.1f}% {cpu:>8.2f} {more_cpu:>+7.1f}%  {spread}")
    print("target: on at most +3 % wall time; collector down at most the 2 s bounded export more")


TEAMS = ("vision", "nlp", "speech", "recsys", "ads", "search", "robotics", "platform")
AWS_CALLS = (
    ("ec2", "RunInstances"),
    ("ec2", "DescribeInstances"),
    ("ec2", "TerminateInstances"),
    ("ec2", "CreateTags"),
    ("s3", "PutObject"),
    ("s3", "GetObject"),
    ("s3", "ListObjectsV2"),
    ("s3", "HeadBucket"),
    ("iam", "CreateRole"),
    ("sts", "GetCallerIdentity"),
    ("ssm", "GetParameter"),
    ("servicequotas", "GetServiceQuota"),
)


def _record_commands(home: str, first: int, count: int) -> None:
    """``count`` commands' events, as the CLI records them (one process standing in for many, in turn)."""
    from orchestrator.metrics import journal

    for n in range(first, first + count):
        journal.activate(Path(home))  # what each CLI process does at start
        team, target = TEAMS[n % len(TEAMS)], ("aws" if n % 3 else "local")
        if n % 4 == 0:  # an `up`: allocation, start, its cloud calls, its end
            journal.record("trainctl_resource_allocation_duration_seconds", 30.0 + n % 200, target=target)
            journal.record("trainctl_training_jobs_started_total", target=target, team=team)
            for service, operation in AWS_CALLS[n % 5 : n % 5 + 6]:
                outcome = "retried" if n % 17 == 0 else "ok"
                journal.record(
                    "trainctl_cloud_api_call_duration_seconds",
                    0.05 + (n % 7) / 10,
                    service=service,
                    operation=operation,
                    outcome=outcome,
                )
            if n % 8 == 0:
                journal.record("trainctl_training_jobs_completed_total", target=target, team=team)
            else:
                journal.record("trainctl_training_jobs_failed_total", target=target, team=team, reason="exit_code")
        elif n % 4 == 1:  # a watcher or an agent: a preemption now and then, checkpoint syncs
            journal.record("trainctl_checkpoint_sync_duration_seconds", 0.2 + n % 5, target="local")
            if n % 40 == 1:
                journal.record("trainctl_preemptions_total", target="aws")
        else:  # `ls`, `status`, `cost`: a cloud call or none
            if n % 2 == 0:
                journal.record(
                    "trainctl_cloud_api_call_duration_seconds", 0.03, service="s3", operation="GetObject", outcome="ok"
                )
    journal.deactivate()


def _write_jobs(home: Path, count: int, running: int) -> None:
    from orchestrator.agent import procs
    from orchestrator.jobs.index import Ledger
    from orchestrator.jobs.records import JobRecord
    from orchestrator.spec.loader import load_spec

    spec = load_spec(QUICKSTART).spec.to_document()
    ledger = Ledger.for_home(home)
    now = time.time()
    for i in range(count):
        job_id = f"bench-job-{i:06x}"
        live = i < running
        fields: dict[str, object] = {"started_at": now - 3600 - i, "hourly_usd": 1.006}
        if not live:
            state = ("succeeded", "failed", "cancelled", "interrupted")[i % 4]
            fields.update(
                ended_at=now - 60 - i, cost_usd=round(1.006 * (3540 - 0) / 3600, 6), metrics={"loss": 0.2, "accuracy": 0.9}
            )
        else:
            state = "running"
            artifacts = home / "artifacts" / job_id
            artifacts.mkdir(parents=True)
            status = {
                "state": "running",
                "pid": os.getpid(),
                "start_ticks": procs.start_ticks(os.getpid()),
                "updated_at": now - 3,
                "metrics": {"step": 100.0 + i, "loss": 0.3, "accuracy": 0.88},
            }
            (artifacts / "status.json").write_text(json.dumps(status))
        team = TEAMS[i % len(TEAMS)]
        record = JobRecord(
            job_id=job_id,
            name="bench-job",
            team=team,
            owner=f"{team}@example.com",
            target="local",
            created=now - 7200 - i,
            state=state,
            spec=spec,
            **fields,  # type: ignore[arg-type]
        )
        ledger.save(record)


def _scrape_times(url: str, scrapes: int) -> tuple[float, list[float], int]:
    import urllib.request

    times = []
    size = 0
    for _ in range(scrapes + 1):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - the bench's own loopback server
            size = len(answer.read())
        times.append(time.perf_counter() - started)
    return times[0], times[1:], size


def metrics_store(commands: int, jobs: int, scrapes: int) -> None:
    from orchestrator.metrics import journal
    from orchestrator.testing.prometheus import MetricsExporter

    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = _env(home, None)
        workers = 4
        share = commands // workers
        started = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")  # separate processes, as separate CLI commands are
        recorders = [spawn.Process(target=_record_commands, args=(str(home), w * share, share)) for w in range(workers)]
        for recorder in recorders:
            recorder.start()
        for recorder in recorders:
            recorder.join()
        if any(recorder.exitcode != 0 for recorder in recorders):
            sys.exit("recording commands failed")
        record_s = time.perf_counter() - started
        _write_jobs(home, jobs, running=10)
        folded = journal.read(home)
        events = sum(folded.counters.values()) + sum(sum(state[:-1]) for state in folded.histograms.values())
        store_bytes = journal.disk_bytes(home)
        exporter = MetricsExporter().start(env)
        try:
            first, warm, size = _scrape_times(f"{exporter.url}/metrics", scrapes)
        finally:
            exporter.stop()
        show_started = time.perf_counter()
        subprocess.run([TRAINCTL, "metrics", "show"], env=env, capture_output=True, check=True)
        show_s = time.perf_counter() - show_started
        index_bytes = sum(p.stat().st_size for p in (home / "state").rglob("*.json")) if (home / "state").exists() else 0
    warm.sort()
    p95 = warm[min(len(warm) - 1, int(0.95 * len(warm)))]
    print(f"\nMetrics store after {commands:,} recorded commands ({events:,.0f} events, {record_s:.1f} s) and {jobs:,} jobs")
    print(f"{'what':<44} {'value':>12}  target")
    print(f"{'scrape of /metrics, first (cold index)':<44} {first * 1000:>9.1f} ms")
    print(f"{'scrape of /metrics, median of ' + str(len(warm)):<44} {statistics.median(warm) * 1000:>9.1f} ms  < 100 ms")
    print(f"{'scrape of /metrics, p95':<44} {p95 * 1000:>9.1f} ms")
    print(f"{'`trainctl metrics show`, whole process':<44} {show_s * 1000:>9.1f} ms")
    print(f"{'exposition size':<44} {size / 1024:>9.1f} KB")
    print(f"{'metrics store on disk ($TRAINCTL_HOME/metrics)':<44} {store_bytes / 1024:>9.1f} KB  < 20 MB")
    print(f"{'job index on disk (for comparison)':<44} {index_bytes / 1024 / 1024:>9.1f} MB")
    print(f"{'recording, per event (4 processes at once)':<44} {record_s / max(events, 1) * 1e6:>9.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="tracing: measurements per mode (default 5)")
    parser.add_argument("--only", choices=("metrics", "tracing"), help="run one part")
    parser.add_argument("--commands", type=int, default=10_000, help="metrics: recorded commands (default 10,000)")
    parser.add_argument("--jobs", type=int, default=1_000, help="metrics: jobs in the index (default 1,000)")
    parser.add_argument("--scrapes", type=int, default=20, help="metrics: warm scrapes measured (default 20)")
    args = parser.parse_args()
    if args.only in (None, "metrics"):
        metrics_store(args.commands, args.jobs, args.scrapes)
    if args.only in (None, "tracing"):
        tracing_overhead(args.rounds)


if __name__ == "__main__":
    main()
