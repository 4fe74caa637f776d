"""Two members with their own homes on one S3 backend (moto, KMS secrets), the real engine: acting on each other's jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import ExitCode
from orchestrator.testing.faults import FaultProxy, slow
from orchestrator.testing.harness import Trainctl, wait_until, write_job
from orchestrator.testing.inspect import job_processes
from tests.teams.conftest import BUCKET, PREFIX, TeamBackend

pytestmark = pytest.mark.engine


def _start(user: Trainctl, spec: Path) -> str:
    result = user.run("up", "--detach", str(spec))
    assert result.returncode == 0, result.stderr
    return str(next(row["job_id"] for row in user.json("ls")["jobs"] if row["name"] == spec.parent.name))


def _resources(team: TeamBackend, job_id: str) -> list[str]:
    """The job's resources in its stack's checkpoint, read from the bucket."""
    latest = json.loads(team.read(f".pulumi/stacks/trainctl/{job_id}.json"))["checkpoint"].get("latest") or {}
    return [r["type"] for r in latest.get("resources") or [] if not r["type"].startswith("pulumi:")]


def _state(user: Trainctl, job_id: str) -> str:
    return str(user.json("status", job_id)["state"])


def test_b_cancels_a_s_job_and_a_tears_down_b_s(team: TeamBackend, alice: Trainctl, bob: Trainctl, tmp_path: Path) -> None:
    """B lists A's detached job, reads its logs and cancels it (A sees it cancelled); A tears down B's job."""
    job_a = _start(alice, write_job(tmp_path / "a", "alice-job", steps=4000, step_s=0.05))
    [row] = bob.json("ls")["jobs"]
    assert (row["job_id"], row["owner"], row["state"]) == (job_a, "tester@example.com", "running")
    wait_until(lambda: "step " in bob.run("logs", job_a).stdout, timeout=60)
    cancelled = bob.run("cancel", job_a)
    assert cancelled.returncode == 0, cancelled.stderr
    assert _state(alice, job_a) == "cancelled" and _resources(team, job_a) == []
    wait_until(lambda: not job_processes(job_a), timeout=30)

    job_b = _start(bob, write_job(tmp_path / "b", "bob-job", steps=4000, step_s=0.05))
    assert len(_resources(team, job_b)) == 4 and job_processes(job_b)
    down = alice.run("down", job_b)
    assert down.returncode == 0, down.stderr
    status = bob.json("status", job_b)
    assert status["torn_down"] is True and status["state"] == "cancelled"
    assert _resources(team, job_b) == []
    wait_until(lambda: not job_processes(job_b), timeout=30)
    assert {r["job_id"]: r["state"] for r in alice.json("ls")["jobs"]} == {job_a: "cancelled", job_b: "cancelled"}


def test_concurrent_ups_of_one_job_one_gets_exit_4_naming_the_other(
    team: TeamBackend, alice: Trainctl, bob: Trainctl, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """While A's up holds the job's stack lock, B's up of the same spec exits 4 naming A's engine (user, host, pid, since)."""
    fault_proxy.clear()
    fault_proxy.add(slow("S3", 0.25))  # A's engine talks to a slow bucket: its lock is held for seconds
    spec = write_job(tmp_path, "shared-job", steps=4000, step_s=0.05)
    a_up = alice.start("up", "--detach", str(spec), env={"AWS_ENDPOINT_URL": fault_proxy.url})
    try:
        lock_key = wait_until(lambda: team.keys(".pulumi/locks/"), timeout=120)[0]
        holder = json.loads(team.s3.get_object(Bucket=BUCKET, Key=lock_key)["Body"].read())  # type: ignore[attr-defined]
        environ = Path(f"/proc/{holder['pid']}/environ").read_bytes()
        assert str(alice.home).encode() in environ, "the lock's holder is A's engine"
        refused = bob.run("up", str(spec))
        assert refused.returncode == ExitCode.CONFLICT, refused.stderr
        named = f"locked by {holder['username']} on {holder['hostname']} (pid {holder['pid']}) since {holder['timestamp']}"
        assert named in refused.stderr
    finally:
        _, err = a_up.communicate(timeout=300)
        fault_proxy.clear()
    assert a_up.returncode == 0, err
    [row] = bob.json("ls")["jobs"]
    assert row["state"] == "running" and len(_resources(team, row["job_id"])) == 4  # B's refusal touched nothing
    assert alice.run("down", row["job_id"]).returncode == 0


def test_a_lock_held_on_another_host_is_cleared_only_when_confirmed(
    team: TeamBackend, alice: Trainctl, bob: Trainctl, tmp_path: Path
) -> None:
    """A lock from another host: B's cancel exits 4 naming it; recover refuses without --yes, names it, clears it with --yes."""
    job_id = _start(alice, write_job(tmp_path, "remote-lock", steps=4000, step_s=0.05))
    foreign = {"pid": 4242, "username": "carol", "hostname": "build-07", "timestamp": "2026-12-02T08:00:00Z"}
    key = f"{PREFIX}/.pulumi/locks/organization/trainctl/{job_id}/0f0f0f0f-0000-4000-8000-000000000000.json"
    team.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(foreign).encode())  # type: ignore[attr-defined]
    holder = "carol on build-07 (pid 4242) since 2026-12-02T08:00:00Z"

    blocked = bob.run("cancel", job_id)
    assert blocked.returncode == ExitCode.CONFLICT and holder in blocked.stderr, blocked.stderr
    unconfirmed = bob.run("recover", job_id)
    assert unconfirmed.returncode == ExitCode.INVALID_INPUT and holder in unconfirmed.stderr, unconfirmed.stderr
    assert "--yes" in unconfirmed.stderr and team.keys(".pulumi/locks/") == [key]

    confirmed = bob.json("recover", job_id, "--yes")
    assert any(holder in action for action in confirmed["actions"]), confirmed
    assert team.keys(".pulumi/locks/") == [] and confirmed["state"] == "running"  # the job itself kept running
    assert bob.run("cancel", job_id).returncode == 0
    final = alice.json("status", job_id)
    assert final["state"] == "cancelled", final
