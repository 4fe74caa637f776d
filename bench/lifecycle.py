"""Lifecycle overheads. Prints tables; asserts nothing.

1. `trainctl up --detach` (a fresh process: CLI start, spec load, compile, stack create, config,
   tags, engine up, job record) against a bare Automation API script doing an up of the same program
   on the same backend (a fresh process: imports, spec load, compile, stack create, config, engine
   up). Both are timed as whole processes. Target: ratio at most 1.2.
2. Engine starts and CPU per operation: `up --detach`, `cancel` and `down` of a local job, each a fresh
   process. Engine starts are counted by a shim engine (a copy of the engine directory whose `pulumi`
   logs its parent pid, then execs the real one), only those the measured process started itself
   (not the watcher's nor the agent's finalize). CPU is the whole process tree's user + system
   seconds (``getrusage(RUSAGE_CHILDREN)`` of this process around the measured one: trainctl, its
   engines and their plugins). Targets: at most 5 starts per `up --detach`, its CPU at most half of
   what it was (13 starts, about 5.5 s before the job-stack object).
3. `trainctl ls` at 50, 100 and 200 jobs (records written directly). Target: under 1 s at 200, and
   no engine process on that path (counted by a PATH shim that logs every `pulumi` start).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.home import engine_cache_dir

REPO = Path(__file__).resolve().parent.parent
TRAINCTL = str(Path(sys.executable).parent / "trainctl")
SPEC = """name: bench-job
team: bench
owner: bench@example.com
code:
  run: sleep 0.5
"""
LONG_SPEC = SPEC.replace("sleep 0.5", "sleep 600")


def _env(home: Path) -> dict[str, str]:
    engines = os.environ.get("TRAINCTL_ENGINE_DIR") or str(engine_cache_dir())
    return {
        **os.environ,
        "TRAINCTL_HOME": str(home),
        "TRAINCTL_ENGINE_DIR": engines,
        "TRAINCTL_LOG_LEVEL": "warning",
        "TRAINCTL_WATCH_INTERVAL_S": "1",  # the watcher of each detached job notices its end quickly
    }


def _bare_up(home: Path, spec_path: Path, index: int) -> float:
    """Automation API directly: the same program, config and backend, none of trainctl's bookkeeping."""
    code = f"""
import os, time, sys
os.environ.update({_env(home)!r})
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.compile import compile_job
from orchestrator.jobs.records import JobPrices
from orchestrator.targets.local.target import LocalTarget
from orchestrator.engine.automation import Workspace
from pulumi import automation as auto
settings = get_settings()
job = compile_job(load_spec({str(spec_path)!r}), "bare-{index}", settings, prices=JobPrices(hourly_usd=0.0))
ws = Workspace(settings)
program = LocalTarget().program(job)
opts = auto.LocalWorkspaceOptions(
    pulumi_home=ws.env["PULUMI_HOME"], env_vars=ws.env, program=program,
    project_settings=auto.ProjectSettings(name="trainctl", runtime="python", backend=auto.ProjectBackend(url=settings.state_url)),
    pulumi_command=auto.PulumiCommand(root=str(ws.engine.root), skip_version_check=True))
stack = auto.create_or_select_stack(stack_name=job.job_id, project_name="trainctl", program=program, opts=opts)
stack.set_all_config({{k: auto.ConfigValue(v) for k, v in job.stack_config().items()}} |
                     {{k: auto.ConfigValue(v, secret=True) for k, v in job.secret_config().items()}})
stack.up()
"""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def _trainctl_up(home: Path, spec_path: Path) -> float:
    env = _env(home)
    start = time.perf_counter()
    subprocess.run([TRAINCTL, "up", "--detach", "--new", str(spec_path)], env=env, capture_output=True, check=True)
    took = time.perf_counter() - start
    return took


def bench_up(runs: int) -> None:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "home"
        spec = Path(tmp) / "job.yaml"
        spec.write_text(SPEC)
        _bare_up(home, spec, 0)  # warm caches (plugins, .pyc)
        _quiet(home)
        # Each measurement starts on a quiet machine: the previous job's run, its teardown and (for
        # trainctl) its watcher are over, so neither side pays for the other's background work.
        bare = [_then_quiet(home, _bare_up(home, spec, i + 1)) for i in range(runs)]
        ours = [_then_quiet(home, _trainctl_up(home, spec)) for _ in range(runs)]
        b, t = statistics.median(bare), statistics.median(ours)
        print(f"{'measure':44} {'median s':>9} {'min s':>7} {'max s':>7}")
        print(f"{'bare Automation API up (whole process)':44} {b:9.2f} {min(bare):7.2f} {max(bare):7.2f}")
        print(f"{'trainctl up --detach (whole process)':44} {t:9.2f} {min(ours):7.2f} {max(ours):7.2f}")
        print(f"{'ratio trainctl / bare (target <= 1.2)':44} {t / b:9.2f}")
        _wait_torn_down(home)


def _then_quiet(home: Path, took: float) -> float:
    _quiet(home)
    return took


def _quiet(home: Path, timeout: float = 120) -> None:
    """Wait until no process of this home runs (agents, finalize hooks, watchers, engines)."""
    from orchestrator.agent.procs import scan

    mine = f"TRAINCTL_HOME={home}".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(mine in env for _, env in scan("environ")):
        time.sleep(0.2)


def _wait_torn_down(home: Path, timeout: float = 120) -> None:
    """Let the detached jobs finish and tear themselves down before the directory goes."""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = _records(home)
        if all(r.get("torn_down") for r in records):
            return
        time.sleep(0.5)


def _measured(env: dict[str, str], log: Path, *args: str) -> tuple[int, float]:
    """Run ``trainctl ARGS``; (engine processes it started itself, CPU seconds of its whole process tree)."""
    from orchestrator.testing.engine_shim import engine_starts

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([TRAINCTL, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"trainctl {' '.join(args)} failed: {err}")
    return len(engine_starts(log, proc.pid)), (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_engine_starts(runs: int) -> None:
    """Engine starts and process-tree CPU of `up --detach`, `cancel` and `down` (medians over ``runs``)."""
    from orchestrator.testing.engine_shim import shim_engines

    rows: dict[str, list[tuple[int, float]]] = {"up --detach": [], "cancel": [], "down": []}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "home"
        log = Path(tmp) / "pulumi-starts.log"
        env = {**_env(home), "TRAINCTL_ENGINE_DIR": str(shim_engines(Path(tmp), Path(_env(home)["TRAINCTL_ENGINE_DIR"]), log))}
        spec = Path(tmp) / "job.yaml"
        spec.write_text(LONG_SPEC)
        _measured(env, log, "up", "--detach", "--new", str(spec))  # warm caches (plugins, .pyc)
        _quiet_jobs(home, env)
        for _ in range(runs):
            for op in ("cancel", "down"):
                rows["up --detach"].append(_measured(env, log, "up", "--detach", "--new", str(spec)))
                rows[op].append(_measured(env, log, op, _newest_job(home)))
                _quiet_jobs(home, env)
    print(f"\n{'operation':14} {'engine starts':>14} {'CPU s (median)':>15} {'min':>6} {'max':>6}  runs")
    for op, values in rows.items():
        starts = statistics.median(v[0] for v in values)
        cpu = [v[1] for v in values]
        print(f"{op:14} {starts:14.0f} {statistics.median(cpu):15.2f} {min(cpu):6.2f} {max(cpu):6.2f}  {len(values)}")


def _records(home: Path) -> list[dict[str, object]]:
    """Every job record of the home's index, as stored."""
    from orchestrator.jobs.index import Ledger

    return Ledger.for_home(home).documents()


def _newest_job(home: Path) -> str:
    records = _records(home)
    return str(max(records, key=lambda r: r["created"])["job_id"])


def _quiet_jobs(home: Path, env: dict[str, str]) -> None:
    """Every job torn down and every process of the home gone (a job still up is cancelled first)."""
    for record in _records(home):
        if not record.get("torn_down"):
            subprocess.run([TRAINCTL, "cancel", str(record["job_id"])], env=env, capture_output=True, check=False)
    _quiet(home)


def _write_records(home: Path, count: int) -> None:
    from orchestrator.jobs.index import Ledger
    from orchestrator.jobs.records import JobRecord

    ledger = Ledger.for_home(home)
    now = time.time()
    for i in range(count):
        state = ("succeeded", "failed", "cancelled")[i % 3]
        ledger.save(
            JobRecord(
                job_id=f"job-{i:05d}",
                name=f"job-{i % 17}",
                team=f"team-{i % 5}",
                owner="o@example.com",
                target="local",
                state=state,
                created=now - i * 60,
                started_at=now - i * 60,
                ended_at=now - i * 60 + 30,
                hourly_usd=1.0,
                cost_usd=0.0083,
                torn_down=True,
            )
        )


def bench_ls(runs: int) -> None:
    print(f"\n{'jobs':>5} {'ls median s':>12} {'min s':>7} {'max s':>7} {'engine starts':>14}  target <1 s at 200")
    for count in (50, 100, 200):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            _write_records(home, count)
            shim_dir = Path(tmp) / "shim"
            shim_dir.mkdir()
            log = Path(tmp) / "pulumi-starts.log"
            shim = shim_dir / "pulumi"
            shim.write_text(f"#!/bin/sh\necho start >> {log}\nexit 1\n")
            shim.chmod(0o755)
            env = {**_env(home), "PATH": f"{shim_dir}:{os.environ['PATH']}"}
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                subprocess.run([TRAINCTL, "ls", "--output", "json"], env=env, capture_output=True, check=True)
                times.append(time.perf_counter() - start)
            starts = len(log.read_text().splitlines()) if log.exists() else 0
            print(f"{count:5} {statistics.median(times):12.3f} {min(times):7.3f} {max(times):7.3f} {starts:14}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    if shutil.which(TRAINCTL) is None and not Path(TRAINCTL).exists():
        sys.exit("run inside the project's virtualenv (make setup)")
    parser.add_argument("--only", choices=["up", "starts", "ls"], default=None, help="run one of the measurements")
    args = parser.parse_args()
    if args.only in (None, "up"):
        bench_up(args.runs)
    if args.only in (None, "starts"):
        bench_engine_starts(args.runs)
    if args.only in (None, "ls"):
        bench_ls(args.runs)


if __name__ == "__main__":
    main()
