"""Shell completion (click's mechanism): commands, and job ids read from the job index alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.testing.harness import trainctl_cmd

IDS = ["resnet-a1b2c3", "resnet-d4e5f6", "bert-0a0b0c"]


def _complete(home: Path, words: str, shell: str = "bash") -> list[str]:
    """What the shell gets back when the user presses Tab after ``words``."""
    env = {
        **os.environ,
        "TRAINCTL_HOME": str(home),
        "_TRAINCTL_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(trainctl_cmd(), env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line.startswith("plain,")]


@pytest.fixture
def jobs(trainctl_home: Path) -> Path:
    """A job index with three jobs, plus the temp file of a record being written (not a job)."""
    ledger = Ledger.for_home(trainctl_home)
    for n, job_id in enumerate(IDS):
        ledger.save(JobRecord(job_id=job_id, name=job_id[:-7], team="t", owner="o@example.com", target="local", created=n))
    (trainctl_home / "state" / ".trainctl" / "jobs" / ".resnet-ffffff.json.x1y2z3.tmp").write_text("{}")
    return trainctl_home


@pytest.mark.parametrize("command", ["status", "logs", "wait", "cancel", "down"])
def test_job_argument_completes_to_the_ids_in_the_index(jobs: Path, command: str) -> None:
    """`trainctl COMMAND <Tab>` lists every job id of the index; a prefix narrows it."""
    assert sorted(_complete(jobs, f"trainctl {command} ")) == sorted(IDS)
    assert sorted(_complete(jobs, f"trainctl {command} resnet")) == ["resnet-a1b2c3", "resnet-d4e5f6"]


def test_job_ids_complete_for_zsh_and_fish_too(jobs: Path) -> None:
    """zsh and fish get the same ids, in their own formats."""
    env = {**os.environ, "TRAINCTL_HOME": str(jobs), "COMP_WORDS": "trainctl logs bert", "COMP_CWORD": "2"}
    zsh = subprocess.run(trainctl_cmd(), env={**env, "_TRAINCTL_COMPLETE": "zsh_complete"}, capture_output=True, text=True)
    assert zsh.stdout.split("\n")[:2] == ["plain", "bert-0a0b0c"]
    fish_env = {**env, "_TRAINCTL_COMPLETE": "fish_complete", "COMP_CWORD": "bert"}  # fish passes the word itself
    fish = subprocess.run(trainctl_cmd(), env=fish_env, capture_output=True, text=True)
    assert fish.stdout.strip() == "plain,bert-0a0b0c"


def test_no_jobs_complete_to_nothing(trainctl_home: Path) -> None:
    """A fresh TRAINCTL_HOME (no jobs directory): no candidates, no error."""
    assert _complete(trainctl_home, "trainctl logs ") == []


def test_commands_complete_by_name(trainctl_home: Path) -> None:
    """`trainctl in<Tab>` offers init and index; hidden hooks are not offered."""
    assert _complete(trainctl_home, "trainctl in") == ["init", "index"]
    assert "watch" not in _complete(trainctl_home, "trainctl ")


def test_job_completion_imports_nothing_heavy(jobs: Path) -> None:
    """Completing job ids never imports pulumi, pydantic or boto3 (no engine, no settings)."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in ('pulumi', 'pydantic', 'boto3') if m in sys.modules)))\n"
        "from orchestrator.cli.main import main\n"
        "main()\n"
    )
    env = {**os.environ, "TRAINCTL_HOME": str(jobs), "_TRAINCTL_COMPLETE": "bash_complete"}
    env.update({"COMP_WORDS": "trainctl logs ", "COMP_CWORD": "2"})
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert "plain,bert-0a0b0c" in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_the_shell_script(cli, shell: str) -> None:  # type: ignore[no-untyped-def]
    """`trainctl completion SHELL` prints click's script for that shell, wired to _TRAINCTL_COMPLETE."""
    result = cli("completion", shell)
    assert result.exit_code == 0
    assert f"_TRAINCTL_COMPLETE={shell}_complete" in result.stdout.replace("'", "").replace('"', "")


def test_completion_of_an_unknown_shell_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    """`trainctl completion tcsh` exits 2 naming the shells it knows."""
    result = cli("completion", "tcsh")
    assert result.exit_code == 2 and "bash" in result.stderr
