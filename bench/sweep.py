"""A 12-point sweep of short local jobs at --max-parallel 1, 2 and 4. Prints a table; asserts nothing.

For each N, in a fresh TRAINCTL_HOME: the wall time of `trainctl sweep` (a fresh process, until it has
printed its summary and no process of its jobs is left), the speed-up over N = 1, and the peak memory
of the whole process tree: the sum of the resident set sizes of every process working for the sweep,
sampled every 0.2 s. Those are trainctl itself, the engines it starts and their plugins, the watchers,
the agents with their runs, and the agents' finalize engines; they are found by the TRAINCTL_HOME they
carry in their environment (the agents and runs, which get a built environment, by their job id), and
by being descendants of the sweep process.

Also printed per N: the mean allocation time of a job (record created -> run started) and the peak
number of runs at once (from the records), which show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from orchestrator.home import engine_cache_dir
from orchestrator.jobs.index import Ledger

TRAINCTL = str(Path(sys.executable).parent / "trainctl")
NAME = "bench-sweep"
SPEC = f"""name: {NAME}
team: bench
owner: bench@example.com
code:
  run: sleep {{run_s}}
limits:
  max_runtime: 10m
"""
PROC = Path("/proc")


def _env(home: Path) -> dict[str, str]:
    engines = os.environ.get("TRAINCTL_ENGINE_DIR") or str(engine_cache_dir())
    return {**os.environ, "TRAINCTL_HOME": str(home), "TRAINCTL_ENGINE_DIR": engines, "TRAINCTL_LOG_LEVEL": "warning"}


def _tree_rss(root: int, home: Path) -> tuple[int, int]:
    """(summed RSS in bytes, process count) of every process working for the sweep rooted at ``root``."""
    marks = (f"TRAINCTL_HOME={home}".encode(), f"TRAINCTL_JOB_ID={NAME}-".encode())
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    chosen: set[int] = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024 if "VmRSS" in fields else 0
        if pid == root or any(mark in environ for mark in marks):
            chosen.add(pid)
    for pid in list(parents):  # descendants of the sweep process
        seen, cursor = set(), pid
        while cursor and cursor not in seen:
            if cursor == root:
                chosen.add(pid)
                break
            seen.add(cursor)
            cursor = parents.get(cursor, 0)
    return sum(rss.get(pid, 0) for pid in chosen), len(chosen)


def run_one(parallel: int, points: int, run_s: float, keep: bool) -> dict[str, float]:
    """Run the sweep at ``parallel``; its wall time, peak tree RSS and what the records say."""
    home = Path(tempfile.mkdtemp(prefix=f"bench-sweep-{parallel}-"))
    workdir = home / "job"
    workdir.mkdir()
    spec = workdir / "job.yaml"
    spec.write_text(SPEC.format(run_s=run_s))
    values = ",".join(str(i) for i in range(1, points + 1))
    argv = [TRAINCTL, "sweep", str(spec), "--param", f"env.POINT={values}", "--max-parallel", str(parallel), "-o", "json"]
    peak = {"rss": 0, "procs": 0}
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            total, count = _tree_rss(proc.pid, home)
            peak["rss"], peak["procs"] = max(peak["rss"], total), max(peak["procs"], count)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.monotonic() - started
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"sweep at --max-parallel {parallel} failed ({proc.returncode}):\n{err[-3000:]}")
    rows = json.loads(out)["jobs"]
    ids = {r["job_id"] for r in rows}
    records = [doc for doc in Ledger.for_home(home).documents() if doc["job_id"] in ids]
    allocation = [r["started_at"] - r["created"] for r in records]
    if not keep:
        subprocess.run(["rm", "-rf", str(home)], check=False)
    return {
        "wall_s": wall,
        "peak_rss_mb": peak["rss"] / 2**20,
        "peak_procs": peak["procs"],
        "alloc_s": sum(allocation) / len(allocation),
        "peak_runs": _max_overlap(records),
    }


def _max_overlap(records: list[dict[str, float]]) -> int:
    events = sorted([(r["started_at"], 1) for r in records] + [(r["ended_at"], -1) for r in records])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=12)
    parser.add_argument("--run-seconds", type=float, default=3.0, help="how long each job's command runs")
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--keep", action="store_true", help="keep each run's TRAINCTL_HOME")
    args = parser.parse_args()
    print(f"{args.points}-point sweep, each job `sleep {args.run_seconds:g}` on the local target, {os.cpu_count()} cores")
    columns = (("max-parallel", 12), ("wall s", 8), ("speed-up", 9), ("peak RSS MB", 12), ("peak procs", 11))
    print(" ".join(title.rjust(width) for title, width in (*columns, ("alloc s/job", 12), ("runs at once", 13))))
    results: dict[int, dict[str, float]] = {}
    for parallel in args.parallel:
        result = results[parallel] = run_one(parallel, args.points, args.run_seconds, args.keep)
        base = results[args.parallel[0]]["wall_s"]
        print(
            f"{parallel:>12} {result['wall_s']:>8.1f} {base / result['wall_s']:>8.2f}x {result['peak_rss_mb']:>12.0f}"
            f" {result['peak_procs']:>11.0f} {result['alloc_s']:>12.2f} {result['peak_runs']:>13.0f}"
        )
    print(_limits(results, args.run_seconds))


def _limits(results: dict[int, dict[str, float]], run_s: float) -> str:
    """What limits the speed-up, read from the measurements: the engine's share and how it grows."""
    low, high = min(results), max(results)
    first, last = results[low], results[high]
    ideal = first["wall_s"] / last["wall_s"]
    slower = last["alloc_s"] / first["alloc_s"]
    lines = [
        f"speed-up at {high} at once: {ideal:.2f}x of an ideal {high / low:.0f}x.",
        f"each job spends {first['alloc_s']:.1f} s allocating (plus a teardown) for {run_s:g} s of run;",
        f"with {high} launches at once an allocation takes {last['alloc_s']:.1f} s ({slower:.1f}x): "
        + (
            f"the engines share {os.cpu_count()} cores, so the cores (not the sweep) bound the speed-up;"
            if slower > 1.3
            else "allocations do not slow each other down: the bound is the jobs' own length and the teardowns;"
        ),
        f"memory grows with the jobs in flight: {last['peak_rss_mb'] / max(last['peak_runs'], 1):.0f} MB per job at the peak.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
