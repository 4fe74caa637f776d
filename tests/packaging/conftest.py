"""The wheel, built once per session and installed into a fresh virtual environment outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_ENGINES


@dataclass(frozen=True)
class Installed:
    """trainctl installed from its wheel: the venv, the built artifacts, and a runner."""

    venv: Path
    dist: Path
    work: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, home: Path) -> dict[str, str]:
        """The environment of a user of the installed trainctl: nothing points at the checkout."""
        keep = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        keep = {k: v for k, v in keep.items() if not k.startswith(("TRAINCTL_", "PULUMI_"))}
        return {
            **keep,
            "PATH": f"{self.bin}{os.pathsep}/usr/bin:/bin",
            "TRAINCTL_HOME": str(home),
            "TRAINCTL_ENGINE_DIR": str(SHARED_ENGINES),
            "TRAINCTL_LOG_FORMAT": "json",
        }


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`python -m build` (sdist, then the wheel from the sdist), then `pip install` of the wheel into a new venv."""
    root = tmp_path_factory.mktemp("wheel")
    dist, venv, work = root / "dist", root / "venv", root / "work"
    work.mkdir()
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], cwd=work)
    wheel = next(dist.glob("trainctl-*.whl"))
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)], cwd=work)
    return Installed(venv=venv, dist=dist, work=work)


@dataclass(frozen=True)
class User:
    """Someone using the installed trainctl from a directory of their own, with their own TRAINCTL_HOME."""

    installed: Installed
    home: Path
    cwd: Path

    def run(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`trainctl ARGS...` of the venv, from ``cwd``."""
        return self.run_program(str(self.installed.bin / "trainctl"), *args, timeout=timeout, env=env)

    def run_program(
        self, *argv: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Any program, in the user's environment and directory."""
        full_env = {**self.installed.env(self.home), **(env or {})}
        return subprocess.run(
            list(argv), cwd=self.cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
        )


@pytest.fixture
def user(installed: Installed, tmp_path: Path) -> User:
    """A user of the installed trainctl: a temporary working directory and TRAINCTL_HOME."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    return User(installed, home, cwd)
