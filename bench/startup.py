"""Cold-start time of `trainctl --help` and `trainctl validate` (median of N fresh processes).

Target (issue 2): at most 0.25 s each. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINCTL = Path(sys.executable).parent / "trainctl"
CASES = {
    "trainctl --help": ["--help"],
    "trainctl validate quickstart": ["validate", str(REPO / "examples/quickstart/job.yaml")],
    "trainctl validate aws": ["validate", str(REPO / "examples/aws/job.yaml")],
}
TARGET_S = 0.25


def measure(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(TRAINCTL), *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"{'command':32} {'median s':>9} {'min s':>7} {'max s':>7} {'target':>7}  verdict")
    for name, argv in CASES.items():
        measure(argv, 1)  # warm the OS page cache; .pyc files exist after the first run
        times = measure(argv, args.runs)
        median = statistics.median(times)
        verdict = "ok" if median <= TARGET_S else "OVER"
        print(f"{name:32} {median:9.3f} {min(times):7.3f} {max(times):7.3f} {TARGET_S:7.2f}  {verdict}")


if __name__ == "__main__":
    main()
