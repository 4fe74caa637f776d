"""Observability overheads. Prints tables; asserts nothing.

1. Tracing: `trainctl up --detach` of the quickstart (a fresh process and a fresh trainctl home each
   time: CLI start, spec load, compile, stack create, engine up, job record), with tracing off, on
   (OTLP/HTTP to a real Jaeger on loopback, the engine joining the trace) and on with the collector
   down (an endpoint nothing listens on), interleaved round by round so that load on the machine hits
   every mode alike. Each job is left to finish and be torn down before the next measurement. Wall
   time and CPU (the whole process tree: trainctl, its engine and plugins) per mode, median of the
   rounds. Target: tracing on costs at most 3 % more wall time than off; the collector down at most
   the bounded export attempt (2 s) more.

Needs the engine (`trainctl engine install`) and Jaeger (`bash tests/deps/jaeger.sh`).
"""

from __future__ import annotations

import argparse
import json
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
from orchestrator.testing.jaeger import Jaeger

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
    job_id = json.loads(listed.stdout)[0]["job_id"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="measurements per mode (default 5)")
    args = parser.parse_args()
    tracing_overhead(args.rounds)


if __name__ == "__main__":
    main()
