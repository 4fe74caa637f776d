"""Where trainctl finds its policy pack: the override, else the copy installed with the package."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.policy import pack
from tests.conftest import REPO


@pytest.fixture
def installed_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the pack where a wheel puts it (``orchestrator/_policies``), standing in for an installed trainctl."""
    directory = tmp_path / "site-packages" / "orchestrator" / "_policies"
    shutil.copytree(REPO / "policies", directory, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pack, "INSTALLED", directory)
    monkeypatch.delenv(pack.ENV_VAR, raising=False)
    return directory


def test_the_installed_pack_wins_over_a_checkout(installed_pack: Path) -> None:
    """With a pack inside the package, trainctl uses it (launcher, defaults, policies), not the checkout's policies/."""
    assert pack.pack_path() == installed_pack / pack.LAUNCHER
    assert pack.defaults_path() == installed_pack / "defaults.json"
    assert Path(pack.load_module("adapter").__file__ or "").is_relative_to(installed_pack)


def test_the_override_still_wins(installed_pack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRAINCTL_POLICY_PACK names another pack: that one is used."""
    monkeypatch.setenv(pack.ENV_VAR, str(REPO / "policies"))
    assert pack.pack_path() == REPO / "policies" / pack.LAUNCHER


def test_a_launcher_that_lost_its_exec_bit_is_replaced_by_a_runnable_one(installed_pack: Path, trainctl_home: Path) -> None:
    """Installed without the exec bit: pack_path() hands out an executable launcher in TRAINCTL_HOME that serves the pack."""
    (installed_pack / pack.LAUNCHER).chmod(0o644)
    launcher = pack.pack_path()
    assert launcher.is_relative_to(trainctl_home) and os.access(launcher, os.X_OK)
    assert (launcher.parent / "PulumiPolicy.yaml").read_text() == (installed_pack / "PulumiPolicy.yaml").read_text()
    assert pack.pack_dir() == installed_pack
    env = {**os.environ, "PULUMI_PYTHON_CMD": sys.executable}
    proc = subprocess.Popen([str(launcher), "127.0.0.1:1"], stdout=subprocess.PIPE, env=env, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert int(proc.stdout.readline().strip()) > 0  # the analyzer's port: the pack is being served
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_missing_installed_pack_says_to_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No pack inside the package and no checkout: exit-2 error naming the place and the fix."""
    monkeypatch.setattr(pack, "INSTALLED", tmp_path / "_policies")
    monkeypatch.setattr(pack, "_PACKAGE_ROOT", tmp_path / "orchestrator")
    monkeypatch.delenv(pack.ENV_VAR, raising=False)
    with pytest.raises(pack.PrerequisiteMissingError, match="launcher not found") as caught:
        pack.pack_path()
    assert str(tmp_path / "_policies") in caught.value.message and "reinstall trainctl" in (caught.value.hint or "")


def test_an_orphaned_analyzer_of_the_installed_pack_is_reaped(installed_pack: Path, trainctl_home: Path) -> None:
    """The installed pack's analyzer, left running by a dead engine (parent init), is found and killed by the reaper."""
    from orchestrator.engine.processes import orphaned_plugins, reap_orphaned_plugins
    from orchestrator.testing.harness import wait_until

    port_file = trainctl_home / "port"
    env = {**os.environ, "PULUMI_PYTHON_CMD": sys.executable, "PULUMI_HOME": str(trainctl_home / "pulumi-home")}
    in_background = '"$0" 127.0.0.1:1 > "$1" 2>/dev/null < /dev/null & echo $!'  # the shell exits: the analyzer's parent is init
    argv = ["sh", "-c", in_background, str(installed_pack / pack.LAUNCHER), str(port_file)]
    started = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=60)
    pid = int(started.stdout)
    try:
        wait_until(lambda: port_file.exists() and port_file.read_text().strip() != "", timeout=60)
        assert orphaned_plugins(trainctl_home) == [pid]
        assert reap_orphaned_plugins(trainctl_home) == [pid]
        wait_until(lambda: _gone(pid), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
