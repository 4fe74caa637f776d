"""Time of one Tab press: `trainctl logs <Tab>` with N jobs in the index (median of fresh processes).

Target (issue 18): under 0.2 s at 200 jobs. Each Tab starts a new trainctl process, so this is a
cold start plus reading the job index. Prints a table; asserts nothing. Wall time suffers when the
machine is busy; the CPU time (user + sys of the process) is what the process itself costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord

TRAINCTL = Path(sys.executable).parent / "trainctl"
TARGET_S = 0.2


def make_index(home: Path, count: int) -> None:
    ledger = Ledger.for_home(home)
    for n in range(count):
        name = f"job-{n % 17:02d}"
        ledger.save(
            JobRecord(job_id=f"{name}-{n:06x}", name=name, team="bench", owner="b@example.com", target="local", created=n)
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(home: Path, words: str, runs: int) -> tuple[list[float], list[float], int]:
    """(wall times, CPU times, ids listed) of ``runs`` Tab presses after ``words``."""
    env = {**os.environ, "TRAINCTL_HOME": str(home), "_TRAINCTL_COMPLETE": "bash_complete", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(len(words.split(" ")) - 1)
    walls, cpus, listed = [], [], 0
    for _ in range(runs):
        cpu, start = _children_cpu(), time.perf_counter()
        out = subprocess.run([str(TRAINCTL)], env=env, capture_output=True, text=True, check=True).stdout
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
        listed = sum(1 for line in out.splitlines() if line.startswith("plain,"))
    return walls, cpus, listed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, nargs="+", default=[0, 200, 2000])
    args = parser.parse_args()
    print(f"{'case':34} {'listed':>6} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>6} {'target':>7}  verdict")
    for count in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            make_index(Path(tmp), count)
            for words in ("trainctl logs ", "trainctl logs job-03"):
                measure(Path(tmp), words, 1)  # warm the page cache and the .pyc files
                walls, cpus, listed = measure(Path(tmp), words, args.runs)
                median, cpu = statistics.median(walls), statistics.median(cpus)
                verdict = "ok" if median <= TARGET_S else "OVER"
                case = f"{words.strip()!r} @ {count} jobs"
                spread = f"{min(walls):7.3f} {max(walls):7.3f}"
                print(f"{case:34} {listed:6} {median:9.3f} {spread} {cpu:6.3f} {TARGET_S:7.2f}  {verdict}")


if __name__ == "__main__":
    main()
