"""Multi-node start-up on the local target. Prints a table; asserts nothing.

For 1, 2 and 4 nodes of examples/multinode (PyTorch DDP over gloo, one torchrun per node), times from
the start of `trainctl up` (a fresh process) to:
- allocated: the job's stack is up (every node's agent started; the `job.allocated` log event),
- all ranks running: every rank has joined the process group and printed its first line
  ("rank R of N"), i.e. torch imported, torchrun's rendezvous and gloo's connections done,
- done: `up` returned (one epoch trained, the job torn down).
Each row is the median of --repeat runs. The machine's cores are shared by every node: with more
nodes than cores the ranks' start-up (importing torch, about 1.5 s of CPU each) queues.

    .venv/bin/python bench/multinode.py [--nodes 1 2 4] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.agent.layout import node_output_key
from orchestrator.home import engine_cache_dir

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "multinode"
TRAINCTL = str(Path(sys.executable).parent / "trainctl")


def _spec(directory: Path, nodes: int) -> Path:
    """A copy of the example with ``nodes`` nodes and one epoch."""
    workdir = directory / "multinode"
    shutil.copytree(EXAMPLE, workdir)
    spec = workdir / "job.yaml"
    text = spec.read_text().replace("nodes: 2", f"nodes: {nodes}").replace('EPOCHS: "12"', 'EPOCHS: "1"')
    spec.write_text(text)
    return spec


def _one_run(nodes: int) -> tuple[float, float, float]:
    """(allocated, all ranks running, done) seconds after `up` started, for one job of ``nodes`` nodes."""
    with tempfile.TemporaryDirectory(prefix="bench-multinode-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = {
            **os.environ,
            "TRAINCTL_HOME": str(home),
            "TRAINCTL_ENGINE_DIR": os.environ.get("TRAINCTL_ENGINE_DIR") or str(engine_cache_dir()),
            "TRAINCTL_LOG_FORMAT": "json",
            "TRAINCTL_POLL_INTERVAL_S": "0.1",
        }
        spec = _spec(Path(tmp), nodes)
        wall_start, started = time.time(), time.perf_counter()
        up = subprocess.Popen([TRAINCTL, "up", str(spec)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        running = None
        while up.poll() is None and running is None:
            if _all_ranks_running(home, nodes):
                running = time.perf_counter() - started
            time.sleep(0.05)
        _, stderr = up.communicate()
        done = time.perf_counter() - started
        if up.returncode != 0:
            raise SystemExit(f"{nodes}-node job failed (exit {up.returncode}):\n{stderr[-2000:]}")
        if running is None:  # ended between two looks: the logs say it ran
            running = done if _all_ranks_running(home, nodes) else float("nan")
        return _allocated_at(stderr) - wall_start, running, done


def _all_ranks_running(home: Path, nodes: int) -> bool:
    artifacts = next((home / "artifacts").glob("*"), None) if (home / "artifacts").is_dir() else None
    if artifacts is None:
        return False
    for rank in range(nodes):
        log = artifacts / node_output_key(rank)
        if not log.exists() or not re.search(rf"rank {rank} of {nodes}\b", log.read_text(errors="replace")):
            return False
    return True


def _allocated_at(stderr: str) -> float:
    """When the `job.allocated` event was logged (epoch seconds, from its timestamp)."""
    from datetime import datetime

    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "job.allocated":
            return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    probe = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True, check=False)
    if probe.returncode != 0:
        raise SystemExit("PyTorch is missing for /usr/bin/python3: run `bash tests/deps/torch.sh`")
    print(f"multi-node start-up, local target, examples/multinode, {os.cpu_count()} cores, median of {args.repeat}")
    print(f"{'nodes':>5} {'allocated s':>12} {'all ranks running s':>20} {'done s':>8}")
    for nodes in args.nodes:
        runs = [_one_run(nodes) for _ in range(args.repeat)]
        allocated, running, done = (statistics.median(column) for column in zip(*runs, strict=True))
        print(f"{nodes:>5} {allocated:>12.2f} {running:>20.2f} {done:>8.2f}")


if __name__ == "__main__":
    main()
