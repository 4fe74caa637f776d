"""What a job ships from code.workdir: never the trainctl home, even when it lives inside the workdir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.targets.local.snapshot import list_files


def _project(root: Path, home_name: str) -> Path:
    """A project with its trainctl home inside it (as a CI job with TRAINCTL_HOME=./<home_name> has)."""
    (root / "train.py").write_text("print('train')\n")
    (root / "lib").mkdir()
    (root / "lib" / "model.py").write_text("W = 1\n")
    home = root / home_name
    (home / "runs" / "old-job-abc123").mkdir(parents=True)
    (home / "runs" / "old-job-abc123" / "train.py").write_text("old copy\n")
    (home / "passphrase").write_text("s3cr3t\n")
    (home / "state").mkdir()
    (home / "state" / "checkpoint.json").write_text("{}\n")
    return home


@pytest.mark.parametrize("git", [False, True], ids=["walk", "git"])
def test_the_trainctl_home_inside_the_workdir_is_never_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git: bool
) -> None:
    """A TRAINCTL_HOME inside code.workdir (with or without git) is left out of the snapshot, whatever its name."""
    source = tmp_path / "project"
    source.mkdir()
    home = _project(source, "ci-home")
    if git:
        subprocess.run(["git", "init", "-q", str(source)], check=True)
    monkeypatch.setenv("TRAINCTL_HOME", str(home))
    assert list_files(source) == ["lib/model.py", "train.py"]


def test_a_home_outside_the_workdir_changes_nothing(tmp_path: Path) -> None:
    """With the home elsewhere, a directory that merely looks like a home is shipped like any other."""
    source = tmp_path / "project"
    source.mkdir()
    _project(source, "not-the-home")
    files = list_files(source, home=tmp_path / "elsewhere")
    assert "not-the-home/passphrase" in files and "train.py" in files
