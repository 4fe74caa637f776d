"""`trainctl index rebuild`: the job index deleted, then made again from the backend's stacks (real engine)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.testing.harness import Trainctl, wait_until, write_job


def _rows(tc: Trainctl) -> dict[str, dict[str, object]]:
    return {row["job_id"]: row for row in tc.json("ls")["jobs"]}


def test_deleted_index_is_rebuilt_from_the_stacks(tc: Trainctl, tmp_path: Path) -> None:
    """After the index is deleted, rebuild brings back a finished and a running job with owner, team and state;
    the rebuilt running job can be cancelled, and a second rebuild keeps every record."""
    done = tc.run("up", str(write_job(tmp_path, "rebuild-done", steps=3)))
    assert done.returncode == 0, done.stderr
    started = tc.run("up", str(write_job(tmp_path, "rebuild-live", steps=600, step_s=0.1)), "--detach")
    assert started.returncode == 0, started.stderr
    before = _rows(tc)
    assert sorted(r["state"] for r in before.values()) == ["running", "succeeded"]

    index = tc.home / "state" / ".trainctl" / "jobs"
    shutil.rmtree(index)
    assert tc.json("ls")["jobs"] == []

    rebuilt = tc.json("index", "rebuild")
    assert sorted(rebuilt["written"]) == sorted(before) and rebuilt["failed"] == {}
    after = _rows(tc)
    assert after.keys() == before.keys()
    for job_id, row in before.items():
        for key in ("name", "team", "owner", "target", "state", "runs"):
            assert after[job_id][key] == row[key], (job_id, key)
    finished = next(j for j, r in before.items() if r["state"] == "succeeded")
    assert after[finished]["exit_code"] == 0
    assert after[finished]["started"] == before[finished]["started"]
    assert after[finished]["runtime_s"] == pytest.approx(before[finished]["runtime_s"], abs=1.0)

    live = next(j for j, r in before.items() if r["state"] == "running")
    cancelled = tc.run("cancel", live)
    assert cancelled.returncode == 0, cancelled.stderr
    wait_until(lambda: tc.record(live)["torn_down"])
    assert tc.record(live)["state"] == "cancelled"

    again = tc.json("index", "rebuild")
    assert again["written"] == [] and sorted(again["kept"]) == sorted(before)
