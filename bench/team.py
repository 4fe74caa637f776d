"""A team backend on S3 (moto): how long `trainctl ls` takes at 50, 100 and 200 jobs. Prints a table; asserts nothing.

A moto server on 127.0.0.1 serves the bucket (reached through AWS_ENDPOINT_URL, as a team's S3 would be
through the SDK's defaults). Records of ended jobs (each with the normalized spec of examples/aws/job.yaml)
are written through the real Ledger into ``s3://bench-team/trainctl/.trainctl/jobs/``. Each size is timed
as a teammate sees it: `trainctl ls -o json` as a fresh process from a second home, once with an empty local
cache (every record fetched: a new teammate, or after the cache was deleted) and then warm (one listing, no
record fetched). The engine is a logging shim: the last column counts engine starts (expected: none).
Target (issue 12): `ls` under 1 s at 200 jobs, with no engine process.

Then `up --detach` of a local-target job (the test trainer, a fresh process each time, the real engine)
on the S3 backend (moto, KMS secrets) against the file backend, each followed by an untimed `down`: the
median wall-clock of each and their ratio (what a shared bucket costs an `up`: every state, lock, tag,
settings and index object is a round trip instead of a file write).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINCTL = str(Path(sys.executable).parent / "trainctl")
SIZES = (50, 100, 200)
TARGET_S = 1.0
BUCKET = "bench-team"
TEAMS = ("vision", "nlp", "speech", "rl")
KMS_ALIAS = "alias/bench-team"
KMS = f"awskms://{KMS_ALIAS}?region=us-east-1"


def write_jobs(home: Path, url: str, first: int, count: int, seed: int = 12) -> None:
    """Jobs ``first`` .. ``first + count - 1``: ended, of four teams and ten owners, saved as teardown leaves them."""
    from orchestrator.jobs.index import Ledger
    from orchestrator.jobs.records import JobRecord
    from orchestrator.settings import load_settings
    from orchestrator.spec.loader import load_spec

    base = load_spec(REPO / "examples/aws/job.yaml").spec.to_document()
    ledger = Ledger.of(load_settings(home=home, backend_url=url))
    rnd = random.Random(seed + first)
    now = time.time()
    for i in range(first, first + count):
        start = now - rnd.uniform(0, 30 * 86400)
        runtime = rnd.uniform(60, 6 * 3600)
        team = TEAMS[i % len(TEAMS)]
        ledger.save(
            JobRecord(
                job_id=f"bench-{i:06x}",
                name="bench",
                team=team,
                owner=f"user{i % 10}@example.com",
                started_by=f"user{i % 10}@ws-{i % 3}",
                target="aws",
                state=("succeeded", "failed", "cancelled")[i % 3],
                created=start - 30,
                started_at=start,
                ended_at=start + runtime,
                hourly_usd=1.006,
                cost_usd=1.006 * runtime / 3600,
                spec=base | {"team": team},
                torn_down=True,
            )
        )


def timed(action: Callable[[], object], runs: int) -> list[tuple[float, float]]:
    """(wall-clock, CPU of the child processes) seconds of each of ``runs`` runs of ``action``."""
    times = []
    for _ in range(runs):
        start, used = time.perf_counter(), _child_cpu()
        action()
        times.append((time.perf_counter() - start, _child_cpu() - used))
    return times


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


Times = list[tuple[float, float]]


def bench_ls(tmp: Path, env: dict[str, str], url: str, runs: int) -> dict[int, tuple[Times, Times, int]]:
    """Per size: (cold times, warm times, engine starts) of `trainctl ls -o json` by a teammate."""
    from orchestrator.testing.engine_shim import engine_starts

    results = {}
    written = 0
    for size in SIZES:
        write_jobs(tmp / "alice", url, written, size - written)
        written = size
        bob = tmp / "bob"
        cache = bob / "cache" / "index"
        member = {**env, "TRAINCTL_HOME": str(bob)}

        def ls(member: dict[str, str] = member, size: int = size) -> None:
            done = subprocess.run([TRAINCTL, "ls", "-o", "json"], env=member, capture_output=True, text=True, check=True)
            assert done.stdout.count('"job_id"') == size, done.stderr

        def cold(cache: Path = cache, ls: Callable[[], None] = ls) -> None:
            shutil.rmtree(cache, ignore_errors=True)
            ls()

        cold_times = timed(cold, runs)
        warm_times = timed(ls, runs)
        results[size] = (cold_times, warm_times, len(engine_starts(Path(env["BENCH_ENGINE_LOG"]))))
    return results


def bench_up(tmp: Path, env: dict[str, str], url: str, runs: int) -> dict[str, Times]:
    """Per backend (file, S3): the times of `trainctl up --detach --new` of a local job, each torn down after."""
    from orchestrator.testing.harness import write_job

    spec = write_job(tmp / "work", "bench-up", steps=100_000, step_s=1.0)
    plain = {k: v for k, v in env.items() if k != "TRAINCTL_BACKEND_URL"}
    backends = {
        "file": {**plain, "TRAINCTL_HOME": str(tmp / "up-file")},
        "s3": {**env, "TRAINCTL_HOME": str(tmp / "up-s3"), "TRAINCTL_BACKEND_URL": url, "TRAINCTL_SECRETS_PROVIDER": KMS},
    }
    results: dict[str, Times] = {}
    for name, member in backends.items():

        def up(member: dict[str, str] = member) -> None:
            subprocess.run([TRAINCTL, "up", "--detach", "--new", str(spec)], env=member, capture_output=True, check=True)

        times = []
        for _ in range(runs):
            times += timed(up, 1)
            listed = subprocess.run([TRAINCTL, "ls", "-o", "json"], env=member, capture_output=True, text=True, check=True)
            job_id = json.loads(listed.stdout)["jobs"][0]["job_id"]
            subprocess.run([TRAINCTL, "down", job_id], env=member, capture_output=True, check=True)
        results[name] = times
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--up-runs", type=int, default=3, help="up --detach runs per backend")
    args = parser.parse_args()

    from orchestrator.home import engine_cache_dir
    from orchestrator.testing.engine_shim import shim_engines
    from orchestrator.testing.moto_server import MotoServer

    server = MotoServer().start()
    try:
        os.environ.update(server.env())
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        kms = boto3.client("kms", region_name="us-east-1")
        kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        url = f"s3://{BUCKET}/trainctl?region=us-east-1"
        with tempfile.TemporaryDirectory(prefix="trainctl-bench-team-") as name:
            tmp = Path(name)
            log = tmp / "engine-starts.log"
            engines = shim_engines(tmp, Path(os.environ.get("TRAINCTL_ENGINE_DIR") or engine_cache_dir()), log)
            env = {
                **os.environ,
                "TRAINCTL_BACKEND_URL": url,
                "TRAINCTL_ENGINE_DIR": str(engines),
                "TRAINCTL_LOG_FORMAT": "json",
                "BENCH_ENGINE_LOG": str(log),
            }
            results = bench_ls(tmp, env, url, args.runs)
            real = {**env, "TRAINCTL_ENGINE_DIR": os.environ.get("TRAINCTL_ENGINE_DIR") or str(engine_cache_dir())}
            ups = bench_up(tmp, real, f"s3://{BUCKET}/up-bench", args.up_runs)
    finally:
        server.stop()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs (wall times grow with load)")
    header = f"{'trainctl ls (S3, moto)':24} {'jobs':>5} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>6}"
    print(f"{header} {'engine starts':>14}  verdict")
    for size, (cold, warm, starts) in results.items():
        for label, times in (("empty local cache", cold), ("warm local cache", warm)):
            wall = [w for w, _ in times]
            median, cpu = statistics.median(wall), statistics.median(c for _, c in times)
            verdict = "ok" if median < TARGET_S and starts == 0 else "OVER"
            line = f"{label:24} {size:5} {median:9.3f} {min(wall):7.3f} {max(wall):7.3f} {cpu:6.3f}"
            print(f"{line} {starts:14}  {verdict}")
    print(f"\n{'up --detach (local job)':24} {'runs':>5} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>6}")
    medians = {}
    for name, times in ups.items():
        wall = [w for w, _ in times]
        medians[name] = statistics.median(wall)
        cpu = statistics.median(c for _, c in times)
        print(f"{name + ' backend':24} {len(wall):5} {medians[name]:9.3f} {min(wall):7.3f} {max(wall):7.3f} {cpu:6.3f}")
    print(f"S3 / file: {medians['s3'] / medians['file']:.2f}x")


if __name__ == "__main__":
    main()
