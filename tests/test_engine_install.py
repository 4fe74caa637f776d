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


def test_doctor_reports_engine_version(cli) -> None:
    """`trainctl doctor` exits 0 and prints the installed engine's version."""
    result = cli("doctor")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"pulumi v{PULUMI_VERSION}" in result.stdout
    assert "passphrase" in result.stdout and "backend" in result.stdout
