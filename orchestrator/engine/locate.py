"""``find_engine``: the one function through which trainctl finds the Pulumi engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import EngineMissingError, SettingsError

# The engine release trainctl runs. The Python SDK pinned in pyproject.toml must be compatible, and
# orchestrator/engine/gowrapper/go.mod must require the same release for the offline build.
PULUMI_VERSION = "3.274.1"
MARKER = "installed.json"


@dataclass(frozen=True)
class Engine:
    """An installed engine: ``root/bin/pulumi`` plus the plugins the Python flow needs beside it."""

    root: Path
    version: str
    source: str

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"


def engine_root(engines_dir: Path, version: str = PULUMI_VERSION) -> Path:
    """Where engine ``version`` is (or will be) installed."""
    return engines_dir / version


def installed_engine(engines_dir: Path, version: str = PULUMI_VERSION) -> Engine | None:
    """The engine of ``version`` if a complete install is there, else None."""
    root = engine_root(engines_dir, version)
    marker = root / MARKER
    if not marker.is_file() or not (root / "bin" / "pulumi").is_file():
        return None
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return Engine(root=root, version=version, source=str(meta.get("source", "unknown")))


def find_engine(engines_dir: Path | None = None) -> Engine:
    """The installed engine of the pinned version; EngineMissingError says how to get one."""
    if engines_dir is None:
        from orchestrator.settings import get_settings

        engines_dir = get_settings().engines
    engine = installed_engine(engines_dir)
    if engine is None:
        earlier = _earlier_install(engines_dir)
        hint = (
            f"an engine installed by an earlier trainctl is in {earlier.root}: `trainctl engine install` moves it here"
            if earlier is not None
            else "run `trainctl engine install` (or `make setup`); it builds offline from the Go module proxy"
        )
        raise EngineMissingError(f"the Pulumi engine v{PULUMI_VERSION} is not installed in {engine_root(engines_dir)}", hint=hint)
    return engine


def _earlier_install(engines_dir: Path) -> Engine | None:
    """An install at an old default location (inside the trainctl home), when ``engines_dir`` is the one in force."""
    from orchestrator.settings import get_settings

    try:
        settings = get_settings()
    except SettingsError:
        return None  # the missing engine is the news here; a bad setting is reported where it is read
    if settings.engines != engines_dir:
        return None
    return next((e for d in settings.legacy_engines if (e := installed_engine(d)) is not None), None)
