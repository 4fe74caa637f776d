"""The job index on the team's S3 backend: one user's job is seen by another, and survives losing the index."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.testing.harness import Trainctl, wait_until, write_job

from .conftest import TeamBackend

pytestmark = pytest.mark.engine


def test_a_teammates_job_is_listed_and_rebuilt_from_the_bucket(
    team: TeamBackend, alice: Trainctl, bob: Trainctl, tmp_path: Path
) -> None:
    """Bob's ls shows Alice's detached job with its owner; with the index deleted from the bucket, Bob's rebuild
    brings it back for both, and Alice can still cancel it."""
    started = alice.run("up", str(write_job(tmp_path, "team-index", steps=600, step_s=0.1)), "--detach")
    assert started.returncode == 0, started.stderr
    [row] = bob.json("ls")["jobs"]
    job_id = row["job_id"]
    assert (row["owner"], row["team"], row["state"]) == ("tester@example.com", "test-team", "running")
    assert team.keys(".trainctl/jobs/") == [f"trainctl/.trainctl/jobs/{job_id}.json"]
    assert not (alice.home / "jobs").exists() and not (alice.home / "state").exists()

    team.s3.delete_object(Bucket="team-state", Key=f"trainctl/.trainctl/jobs/{job_id}.json")  # type: ignore[attr-defined]
    assert bob.json("ls")["jobs"] == [] and alice.json("ls")["jobs"] == []
    rebuilt = bob.json("index", "rebuild")
    assert rebuilt["written"] == [job_id]
    [again] = alice.json("ls")["jobs"]
    assert (again["job_id"], again["owner"], again["state"]) == (job_id, "tester@example.com", "running")

    cancelled = alice.run("cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    wait_until(lambda: bob.record(job_id)["torn_down"])
    assert bob.json("ls", "--owner", "tester@example.com")["jobs"][0]["state"] == "cancelled"
