"""Sweeps on the real engine (local target): a grid of short jobs, N at once, ranked; Ctrl-C and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from orchestrator.jobs.locks import is_locked
from orchestrator.testing.harness import Trainctl, wait_until
from orchestrator.testing.inspect import engine_locks, job_processes, live_resources, stack_tags, watcher_processes

SCALES = ("3", "1", "5", "2", "6", "4")  # the trainer's final loss is LOSS_SCALE / STEPS: the ranking is known


def _sweep_args(spec: Path, *extra: str) -> list[str]:
    return ["sweep", str(spec), "--param", f"env.LOSS_SCALE={','.join(SCALES)}", "--objective", "loss:min", *extra]


def _max_overlap(jobs: list[dict[str, Any]]) -> int:
    """The most runs that were running at the same moment (from each record's started/ended)."""
    events = sorted([(j["started_at"], 1) for j in jobs] + [(j["ended_at"], -1) for j in jobs], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def _nothing_left(tc: Trainctl, job_ids: list[str]) -> list[str]:
    """What a stopped sweep left behind: processes, held locks, engine locks, live resources, working dirs."""
    left = [f"process {pid} of {j}" for j in job_ids for pid in job_processes(j)]
    left += [f"watcher {pid} of {j}" for j in job_ids for pid in watcher_processes(j)]
    left += [f"lock {p.name}" for p in (tc.home / "locks").glob("*.lock") if is_locked(tc.home, p.stem)]
    left += [f"engine lock {p}" for p in engine_locks(tc.home)]
    left += [f"resource {r} of {j}" for j in job_ids for r in live_resources(tc.home, j)]
    left += [f"working dir of {j}" for j in job_ids if (tc.home / "runs" / j).exists()]
    return left


def test_six_point_sweep_three_at_once_ranked_by_objective(tc: Trainctl, make_job) -> None:
    """6 points at --max-parallel 3: every job succeeds, never more than 3 run at once, best loss first, all tagged."""
    spec = make_job(name="sweep-six", steps=10, step_s=0.1)
    result = tc.run(*_sweep_args(spec, "--max-parallel", "3", "-o", "json"), timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rows = summary["jobs"]
    assert [r["state"] for r in rows] == ["succeeded"] * 6, rows
    assert [r["params"]["env.LOSS_SCALE"] for r in rows] == sorted(SCALES, key=float)
    assert [r["metrics"]["loss"] for r in rows] == sorted(r["metrics"]["loss"] for r in rows)
    records = [tc.record(r["job_id"]) for r in rows]
    assert _max_overlap(records) <= 3
    sweep_id = summary["sweep_id"]
    assert all(r["sweep"]["sweep_id"] == sweep_id for r in records)
    assert all(stack_tags(tc.home, r["job_id"])["trainctl:sweep-id"] == sweep_id for r in rows)
    assert _nothing_left(tc, [r["job_id"] for r in rows]) == []
    listed = tc.json("ls", "--sweep", sweep_id)["jobs"]
    assert sorted(j["job_id"] for j in listed) == sorted(r["job_id"] for r in rows)
    text = tc.run(*_sweep_args(spec, "--max-parallel", "3"))  # again: nothing to run, the summary once more
    assert text.returncode == 0, text.stderr
    assert "6 of 6 points already finished" in text.stderr
    assert text.stdout.splitlines()[1].split()[1] == "1"  # the LOSS_SCALE=1 point heads the table


# Three short points (0.5 s of run) then three long ones (15 s): a signal once two have finished finds a
# long one running in the middle of its run.
INTERRUPTED_GRID = ("--param", "env.STEPS=5,150", "--param", "env.LOSS_SCALE=1,2,3", "--max-parallel", "2")


def _some_finished(tc: Trainctl) -> bool:
    jobs = tc.jobs()
    long_running = [j for j in jobs if j["state"] == "running" and j["sweep"]["params"]["env.STEPS"] == "150"]
    return sum(j["state"] == "succeeded" for j in jobs) >= 2 and bool(long_running)


def _allocating(tc: Trainctl) -> bool:
    return any(j["state"] == "provisioning" for j in tc.jobs())


@pytest.mark.parametrize("when", ["some-finished", "during-allocation"])
def test_sigint_stops_cleanly_and_rerun_completes_only_the_missing_points(tc: Trainctl, make_job, when: str) -> None:
    """SIGINT mid-sweep exits 130 leaving nothing behind; the rerun keeps the finished jobs and completes the rest."""
    spec = make_job(name="sweep-int", step_s=0.1)
    ready = _some_finished if when == "some-finished" else _allocating
    proc = tc.start("sweep", str(spec), *INTERRUPTED_GRID)
    err: list[str] = []
    pump = threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    pump.start()
    wait_until(lambda: ready(tc) or proc.poll() is not None, timeout=240, interval=0.05)
    assert proc.poll() is None, "the sweep ended before the signal: " + "".join(err)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    pump.join(timeout=5)
    assert code == 130, "".join(err)
    before = {j["job_id"]: j for j in tc.jobs()}
    done = {j: r for j, r in before.items() if r["state"] == "succeeded"}
    assert len(done) >= (2 if when == "some-finished" else 0), before
    assert any(r["state"] == "interrupted" for r in before.values()), before
    assert all(r["torn_down"] for r in before.values()), before
    interrupted_one = next(j for j, r in before.items() if r["state"] == "interrupted")
    assert tc.json("status", interrupted_one)["next"].startswith(f"trainctl sweep {spec} --param")
    assert _nothing_left(tc, list(before)) == []

    again = tc.run("sweep", str(spec), *INTERRUPTED_GRID, "-o", "json", timeout=300)
    assert again.returncode == 0, again.stderr
    rows = json.loads(again.stdout)["jobs"]
    assert [r["state"] for r in rows] == ["succeeded"] * 6
    for job_id, record in done.items():  # finished points were not run again
        assert tc.record(job_id) == record
    assert {r["job_id"] for r in rows} >= set(done)
    interrupted = [j for j, r in before.items() if r["state"] == "interrupted"]
    assert set(interrupted) <= {r["job_id"] for r in rows}  # an interrupted point resumed its own job
    assert len(tc.jobs()) == 6
    assert _nothing_left(tc, [r["job_id"] for r in rows]) == []


def test_a_failed_point_is_exit_6_and_finished(tc: Trainctl, make_job) -> None:
    """A point whose run fails makes the sweep exit 6 after its summary; running the sweep again does not rerun it."""
    spec = make_job(name="sweep-fail", steps=4, step_s=0.1)
    args = ["sweep", str(spec), "--param", "env.FAIL_AT=0,2", "--max-parallel", "2", "-o", "json"]
    first = tc.run(*args, timeout=300)
    assert first.returncode == 6, first.stderr
    rows = {r["params"]["env.FAIL_AT"]: r for r in json.loads(first.stdout)["jobs"]}
    assert (rows["0"]["state"], rows["2"]["state"]) == ("succeeded", "failed")
    assert "1 of 2 points of sweep" in first.stderr and "failed: 1" in first.stderr
    again = tc.run(*args, timeout=120)
    assert again.returncode == 6, again.stderr
    assert "2 of 2 points already finished" in again.stderr
    assert {r["job_id"] for r in json.loads(again.stdout)["jobs"]} == {r["job_id"] for r in rows.values()}
    assert len(tc.jobs()) == 2


def test_detached_sweep_then_cancel_and_down_the_whole_sweep(tc: Trainctl, make_job) -> None:
    """--detach returns with the sweep id; cancel --sweep stops its runner and jobs; down --sweep --purge deletes artifacts."""
    spec = make_job(name="sweep-bg", steps=400, step_s=0.1)  # 40 s: still running when cancelled
    started = tc.run("sweep", str(spec), "--param", "env.POINT=1,2,3", "--max-parallel", "2", "--detach", "-o", "json")
    assert started.returncode == 0, started.stderr
    head = json.loads(started.stdout)
    sweep_id = head["sweep_id"]
    assert head["outcome"] == "started" and Path(head["log"]).name == f"{sweep_id}.sweep.log"
    wait_until(lambda: sum(j["state"] == "running" for j in tc.jobs()) == 2, timeout=120, interval=0.2)
    busy = tc.run("sweep", str(spec), "--param", "env.POINT=1,2,3", "--max-parallel", "2", "--detach")
    assert busy.returncode == 4, busy.stderr  # one process runs a sweep at a time
    assert sorted(j["state"] for j in tc.json("ls", "--sweep", sweep_id)["jobs"]) == ["running", "running"]
    cancelled = tc.run("cancel", "--sweep", sweep_id, "-o", "json", timeout=240)
    assert cancelled.returncode == 0, cancelled.stderr
    jobs = json.loads(cancelled.stdout)["jobs"]
    assert len(jobs) == 2 and all(j["state"] in ("interrupted", "cancelled") for j in jobs), jobs
    assert not is_locked(tc.home, f"sweep-{sweep_id}")
    assert _nothing_left(tc, [j["job_id"] for j in jobs]) == []
    assert len(tc.jobs()) == 2  # the third point was never launched
    down = tc.run("down", "--sweep", sweep_id, "--purge", "--yes", "-o", "json")
    assert down.returncode == 0, down.stderr
    assert all(not (tc.home / "artifacts" / j["job_id"]).exists() for j in jobs)


def test_sweep_over_the_cost_cap_is_refused_before_any_job(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """The real console script: a worst case above maxSweepUsd exits 3 naming both sums; no job, stack or process exists."""
    spec = make_job(name="sweep-cap", extra="limits:\n  max_runtime: 1h\n")
    config = tmp_path / "team-policy.yaml"
    config.write_text("max-job-cost:\n  maxSweepUsd: 10\n")
    env = {"TRAINCTL_LOCAL_HOURLY_USD": "2"}
    args = ["sweep", str(spec), "--param", "env.LOSS_SCALE=1,2,3,4,5,6", "--policy-config", str(config)]
    refused = tc.run(*args, env=env)
    assert refused.returncode == 3, refused.stderr
    assert "12.00 USD" in refused.stderr and "10.00 USD" in refused.stderr and "max-job-cost" in refused.stderr
    detached = tc.run(*args, "--detach", env=env)
    assert detached.returncode == 3, detached.stderr
    assert tc.jobs() == []
    assert not (tc.home / "state").exists() and not (tc.home / "runs").exists()
    assert not list(tc.home.glob("logs/*.sweep.log"))  # no background runner was started either
