"""Time of `trainctl cost --by team` at 1,000 and 10,000 ended jobs. Prints a table; asserts nothing.

Records are written through the real Ledger (with the normalized spec of examples/aws/job.yaml) into a
temporary TRAINCTL_HOME, spread over 90 days, 12 teams and 4 instance prices. Each size is timed three ways:
the report service in-process (`cost_report`, what the command calls), the whole command in-process
(`orchestrator.cli.main.run`, output captured), and `trainctl cost --by team -o json` as a fresh process.
For comparison: the report with its record cache deleted before each run (every file parsed, what the
first report after many new jobs pays), and `Ledger.all()` (pydantic validation of every record).
Target (issue 7): under 1 s at 10,000 jobs, growing linearly (10x the jobs: at most about 10x the time).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINCTL = str(Path(sys.executable).parent / "trainctl")
SIZES = (1_000, 10_000)
TARGET_S = 1.0
TEAMS = ("vision", "nlp", "speech", "rl", "infra", "ads", "search", "robotics", "platform", "data", "safety", "eval")
PRICES = {"g5.xlarge": 1.006, "g4dn.xlarge": 0.526, "p4d.24xlarge": 32.7726, "g6e.2xlarge": 2.24208}


def write_jobs(home: Path, count: int, seed: int = 7) -> None:
    """``count`` ended jobs over the last 90 days, saved with Ledger.save as teardown leaves them."""
    from orchestrator.jobs.index import Ledger
    from orchestrator.jobs.records import JobRecord
    from orchestrator.spec.loader import load_spec

    base = load_spec(REPO / "examples/aws/job.yaml").spec.to_document()
    ledger = Ledger.for_home(home)
    rnd = random.Random(seed)
    now = time.time()
    for i in range(count):
        instance_type = rnd.choice(list(PRICES))
        start = now - rnd.uniform(0, 90 * 86400)
        runtime = rnd.uniform(60, 12 * 3600)
        spec = base | {"team": rnd.choice(TEAMS), "resources": base["resources"] | {"instance_type": instance_type}}
        ledger.save(
            JobRecord(
                job_id=f"bench-{i:06x}",
                name="bench",
                team=spec["team"],
                owner=f"user{i % 40}@example.com",
                cost_center="cc-1234",
                target="aws",
                state="succeeded",
                created=start - 30,
                started_at=start,
                ended_at=start + runtime,
                hourly_usd=PRICES[instance_type],
                cost_usd=PRICES[instance_type] * runtime / 3600,
                spec=spec,
                torn_down=True,
            )
        )


def timed(action: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (this process and its children) of each run, after one warm-up run."""
    action()  # warm: page cache, lazy imports, the record cache
    wall, cpu = [], []
    for _ in range(runs):
        start, used = time.perf_counter(), _cpu()
        action()
        wall.append(time.perf_counter() - start)
        cpu.append(_cpu() - used)
    return wall, cpu


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(home: Path, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    from orchestrator.cli.main import run
    from orchestrator.cost.reports import CACHE_FILE, cost_report
    from orchestrator.jobs.index import Ledger
    from orchestrator.settings import get_settings

    os.environ["TRAINCTL_HOME"] = str(home)
    get_settings.cache_clear()
    settings = get_settings()

    def command() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert run(["cost", "--by", "team", "-o", "json"]) == 0

    def cold() -> None:
        (home / CACHE_FILE).unlink(missing_ok=True)
        cost_report(settings, by="team")

    env = {**os.environ, "TRAINCTL_HOME": str(home)}
    argv = [TRAINCTL, "cost", "--by", "team", "-o", "json"]
    return {
        "report, no cache (in-proc)": timed(cold, runs),
        "report (in-process)": timed(lambda: cost_report(settings, by="team"), runs),
        "command (in-process)": timed(command, runs),
        "trainctl cost (process)": timed(lambda: subprocess.run(argv, env=env, capture_output=True, check=True), runs),
        "Ledger.all (pydantic)": timed(lambda: Ledger.for_home(home).all(), max(1, runs // 2)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[int, dict[str, tuple[list[float], list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-cost-") as tmp:
        for size in SIZES:
            home = Path(tmp) / str(size)
            start = time.perf_counter()
            write_jobs(home, size)
            print(f"wrote {size} records in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            results[size] = measure(home, args.runs)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs (wall times grow with load)")
    print(f"{'path':26} {'jobs':>6} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>7} {'x vs 1k':>8}  verdict")
    for path in results[SIZES[0]]:
        small = statistics.median(results[SIZES[0]][path][0])
        for size in SIZES:
            wall, cpu = results[size][path]
            median = statistics.median(wall)
            growth = median / small if small else float("nan")
            checked = size == SIZES[-1] and not path.startswith(("Ledger", "report, no cache"))
            verdict = ("ok" if median < TARGET_S else "OVER") if checked else "-"
            line = f"{path:26} {size:6} {median:9.3f} {min(wall):7.3f} {max(wall):7.3f} {statistics.median(cpu):7.3f}"
            print(f"{line} {growth:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
