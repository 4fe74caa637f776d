"""`down --purge` deletes artifacts only when confirmed: --yes, or "y" on a terminal; scripts are refused."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.testing.harness import Trainctl, trainctl_cmd
from orchestrator.vocabulary import JobState

JOB = "resnet-baseline-abc123"


@pytest.fixture
def ended_job(tc: Trainctl) -> Path:
    """A torn-down local job with a checkpoint in its artifact store; returns the store."""
    record = JobRecord(job_id=JOB, name="resnet-baseline", team="vision", owner="a@b.c", target="local", created=time.time())
    Ledger.for_home(tc.home).save(record.model_copy(update={"state": JobState.SUCCEEDED, "torn_down": True}))
    artifacts = tc.home / "artifacts" / JOB
    (artifacts / "checkpoints").mkdir(parents=True)
    (artifacts / "checkpoints" / "step-100.pt").write_bytes(b"weights")
    return artifacts


def down_purge(tc: Trainctl, *extra: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    """`trainctl down JOB --purge`; with ``answer``, stdin is a terminal that types it, else no terminal."""
    command = [*trainctl_cmd(), "down", JOB, "--purge", *extra]
    if answer is None:
        return subprocess.run(
            command, env=tc.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
        )
    controller, terminal = os.openpty()
    try:
        os.write(controller, answer.encode())
        return subprocess.run(command, env=tc.env, stdin=terminal, capture_output=True, text=True, timeout=120, check=False)
    finally:
        os.close(terminal)
        os.close(controller)


def test_without_terminal_and_without_yes_it_refuses(tc: Trainctl, ended_job: Path) -> None:
    """No terminal, no --yes: exit 2, the reason and the --yes hint, and every artifact still there."""
    result = down_purge(tc)
    assert result.returncode == 2, result.stderr
    assert "no terminal to ask on" in result.stderr
    assert f"trainctl down {JOB} --purge --yes" in result.stderr
    assert (ended_job / "checkpoints" / "step-100.pt").is_file()
    assert tc.record(JOB).get("purged") is not True


def test_yes_purges_without_asking(tc: Trainctl, ended_job: Path) -> None:
    """--yes (for scripts) deletes the artifact store with no terminal."""
    result = down_purge(tc, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"purged {ended_job}" in result.stdout
    assert not ended_job.exists()


def test_terminal_answer_no_keeps_everything(tc: Trainctl, ended_job: Path) -> None:
    """On a terminal the user is asked; "n" leaves the artifacts and exits 2 saying nothing was done."""
    result = down_purge(tc, answer="n\n")
    assert result.returncode == 2, result.stderr
    assert f"Delete every artifact of job {JOB}" in result.stderr
    assert "nothing was done" in result.stderr
    assert (ended_job / "checkpoints" / "step-100.pt").is_file()


def test_terminal_answer_yes_purges(tc: Trainctl, ended_job: Path) -> None:
    """On a terminal, "y" deletes the artifact store."""
    result = down_purge(tc, answer="y\n")
    assert result.returncode == 0, result.stderr
    assert not ended_job.exists()


def test_plain_down_never_asks(tc: Trainctl, ended_job: Path) -> None:
    """`down` without --purge deletes nothing and needs no confirmation, even without a terminal."""
    result = subprocess.run(
        [*trainctl_cmd(), "down", JOB],
        env=tc.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ended_job.is_dir()
