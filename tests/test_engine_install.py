"""The engine installer: PATH first, cached forever after, clear errors when nothing can supply it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.engine import install as installer
from orchestrator.engine.locate import PULUMI_VERSION, find_engine
from orchestrator.errors import EngineMissingError


def fake_pulumi(directory: Path, version: str) -> Path:
    """A stand-in `pulumi` that only answers `pulumi version` (the installer's seam)."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "pulumi"
    binary.write_text(f"#!/bin/sh\necho v{version}\n")
    binary.chmod(0o755)
    return binary


@pytest.fixture
def only_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A PATH holding nothing but a directory the test controls (plus sh for the fake)."""
    bindir = tmp_path / "path-bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:/bin:/usr/bin")
    return bindir


def test_pulumi_of_pinned_version_on_path_is_used_and_cached(tmp_path: Path, only_path: Path) -> None:
    """A matching pulumi on PATH is copied in with the dynamic-provider shim; a second install reuses it."""
    fake_pulumi(only_path, PULUMI_VERSION)
    lines: list[str] = []
    engine = installer.install_engine(tmp_path / "engines", progress=lines.append, allow_download=False)
    assert engine.source == "PATH"
    assert engine.pulumi.is_file()
    shim = engine.bin_dir / "pulumi-resource-pulumi-python"
    assert os.access(shim, os.X_OK) and "pulumi.dynamic" in shim.read_text()
    assert json.loads((engine.root / "installed.json").read_text())["version"] == PULUMI_VERSION
    (only_path / "pulumi").unlink()
    again: list[str] = []
    assert installer.install_engine(tmp_path / "engines", progress=again.append, allow_download=False) == engine
    assert any("already installed" in line for line in again)
    assert find_engine(tmp_path / "engines") == engine


def test_wrong_version_on_path_is_not_used(tmp_path: Path, only_path: Path) -> None:
    """A pulumi of another version is reported and skipped; with no Go the error names the toolchain."""
    fake_pulumi(only_path, "3.100.0")
    lines: list[str] = []
    with pytest.raises(EngineMissingError) as exc:
        installer.install_engine(tmp_path / "engines", progress=lines.append, allow_download=False)
    assert any("is v3.100.0, not v" + PULUMI_VERSION in line for line in lines)
    assert "Go toolchain (`go`) is missing" in exc.value.message
    assert exc.value.exit_code == 2
    assert not (tmp_path / "engines" / PULUMI_VERSION).exists(), "a failed install must leave nothing find_engine would take"


def test_find_engine_without_install_says_how(tmp_path: Path) -> None:
    """find_engine on an empty cache raises with a hint to run `trainctl engine install`."""
    with pytest.raises(EngineMissingError) as exc:
        find_engine(tmp_path / "empty")
    assert "trainctl engine install" in (exc.value.hint or "")


def test_go_build_failure_is_reported(tmp_path: Path, only_path: Path) -> None:
    """A failing `go build` surfaces its exit code and output, and leaves no partial engine."""
    go = only_path / "go"
    go.write_text("#!/bin/sh\necho 'cannot reach proxy' >&2\nexit 7\n")
    go.chmod(0o755)
    with pytest.raises(EngineMissingError) as exc:
        installer.install_engine(tmp_path / "engines", progress=lambda _: None, allow_download=False)
    assert "exit 7" in exc.value.message and "cannot reach proxy" in exc.value.message
    assert not (tmp_path / "engines" / PULUMI_VERSION).exists()


def test_wrapper_module_pins_the_same_release() -> None:
    """The Go wrapper module requires pkg and sdk at PULUMI_VERSION, so the build matches the pin."""
    from importlib import resources

    gomod = resources.files("orchestrator.engine").joinpath("gowrapper/go.mod").read_text()
    assert f"github.com/pulumi/pulumi/pkg/v3 v{PULUMI_VERSION}" in gomod
    assert f"github.com/pulumi/pulumi/sdk/v3 v{PULUMI_VERSION}" in gomod


@pytest.mark.engine
def test_doctor_reports_engine_version(cli) -> None:
    """`trainctl doctor` exits 0 and prints the installed engine's version."""
    result = cli("doctor")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"pulumi v{PULUMI_VERSION}" in result.stdout
    assert "passphrase" in result.stdout and "backend" in result.stdout


def installed_at(engines: Path, source: str = "go-build") -> Path:
    """A complete (fake) install of the pinned engine under ``engines``, as an earlier trainctl left it."""
    root = engines / PULUMI_VERSION
    fake_pulumi(root / "bin", PULUMI_VERSION)
    (root / "installed.json").write_text(json.dumps({"version": PULUMI_VERSION, "source": source}))
    return root


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user whose HOME is a temporary directory, with every engine and cache location at its default."""
    from orchestrator.settings import get_settings

    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TRAINCTL_HOME", str(home / ".trainctl"))
    for name in ("TRAINCTL_ENGINE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    return home


def test_engine_cache_is_per_user_not_per_trainctl_home(user_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines default to ~/.cache/trainctl/engine (or $XDG_CACHE_HOME/trainctl/engine), whatever TRAINCTL_HOME is."""
    from orchestrator.settings import load_settings

    assert load_settings().engines == user_home / ".cache" / "trainctl" / "engine"
    monkeypatch.setenv("TRAINCTL_HOME", str(user_home / "another-project"))
    assert load_settings().engines == user_home / ".cache" / "trainctl" / "engine"
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_home / "xdg"))
    assert load_settings().engines == user_home / "xdg" / "trainctl" / "engine"
    monkeypatch.setenv("TRAINCTL_ENGINE_DIR", str(user_home / "mine"))
    assert load_settings().engines == user_home / "mine"


def test_engine_at_the_old_location_is_moved_not_rebuilt(tmp_path: Path, only_path: Path) -> None:
    """An install under an old engine dir is moved into the new one (no download, no build); the old path links to it."""
    old = tmp_path / "old-home" / "engine"
    installed_at(old)
    lines: list[str] = []
    engine = installer.install_engine(tmp_path / "cache", progress=lines.append, allow_download=False, legacy_dirs=(old,))
    assert engine.root == tmp_path / "cache" / PULUMI_VERSION and engine.source == "go-build"
    assert engine.pulumi.is_file() and not engine.root.is_symlink()
    assert (old / PULUMI_VERSION).is_symlink()
    assert find_engine(old).pulumi.resolve() == engine.pulumi.resolve()
    assert any("moved from" in line for line in lines), lines
    assert not any("building" in line or "no pulumi on PATH" in line for line in lines), lines


def test_engine_install_adopts_the_old_default_and_a_fresh_home_finds_it(
    cli, user_home: Path, only_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`engine install` moves ~/.trainctl/engine's engine to ~/.cache; `doctor` under a fresh TRAINCTL_HOME finds it there."""
    installed_at(user_home / ".trainctl" / "engine")
    installed = cli("engine", "install", "--no-download", "--output", "json")
    assert installed.exit_code == 0, installed.stderr
    cached = user_home / ".cache" / "trainctl" / "engine" / PULUMI_VERSION / "bin" / "pulumi"
    assert json.loads(installed.stdout)["path"] == str(cached)
    monkeypatch.setenv("TRAINCTL_HOME", str(user_home / "fresh-project"))
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    doctor = cli("doctor")
    assert f"pulumi v{PULUMI_VERSION} at {cached}" in doctor.stdout, doctor.stdout


def test_missing_engine_hint_points_at_an_earlier_install(cli, user_home: Path) -> None:
    """With the engine only at the old default (~/.trainctl/engine), `engine show` says `engine install` moves it."""
    installed_at(user_home / ".trainctl" / "engine")
    result = cli("engine", "show")
    assert result.exit_code == 2
    assert f"earlier trainctl is in {user_home / '.trainctl' / 'engine' / PULUMI_VERSION}" in result.stderr
    assert "`trainctl engine install` moves it here" in result.stderr
