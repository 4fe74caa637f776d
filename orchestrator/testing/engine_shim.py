"""An engine directory that logs every start of the `pulumi` CLI (which process started it, with what arguments).

A copy of the installed engine whose ``bin/pulumi`` is a script: it appends ``<parent pid> <args>`` to
a log, then execs the real binary (bundled plugins are found beside the real one; the other files of
``bin/`` are links to the real ones). Point ``TRAINCTL_ENGINE_DIR`` at :func:`shim_engines`' result.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EngineStart:
    """One logged start of the engine."""

    parent: int
    args: str


def shim_engines(directory: Path, real_engines: Path, log: Path) -> Path:
    """A shim of the engines directory ``real_engines`` under ``directory``; starts go to ``log``."""
    version = next(p.name for p in sorted(real_engines.iterdir()) if (p / "installed.json").is_file())
    real = real_engines / version
    shim = directory / "engines" / version
    (shim / "bin").mkdir(parents=True)
    shutil.copy(real / "installed.json", shim / "installed.json")
    for entry in (real / "bin").iterdir():
        if entry.name != "pulumi":
            (shim / "bin" / entry.name).symlink_to(entry)
    script = shim / "bin" / "pulumi"
    script.write_text(f'#!/bin/sh\necho "$PPID $*" >> "{log}"\nexec "{real / "bin" / "pulumi"}" "$@"\n')
    script.chmod(0o755)
    return shim.parent


def engine_starts(log: Path, parent: int | None = None) -> list[EngineStart]:
    """The logged starts (of those started by process ``parent`` only, when given)."""
    lines = log.read_text().splitlines() if log.exists() else []
    starts = [EngineStart(int(line.split(" ", 1)[0]), line.partition(" ")[2]) for line in lines]
    return [s for s in starts if parent is None or s.parent == parent]
