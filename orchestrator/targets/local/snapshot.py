"""Snapshot of ``code.workdir``: the candidates (honouring .gitignore), a content digest, the local copy."""

from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.workdir import Selection


def list_files(source: Path, *, home: Path | None = None) -> list[str]:
    """The names of the regular files a job ships from ``source`` (see ``select_workdir``)."""
    from orchestrator.workdir import select_workdir

    return sorted(select_workdir(source, home=home).files)


def digest(selection: Selection) -> str:
    """A content digest over names, bytes and link targets: equal digests mean equal snapshots."""
    h = hashlib.sha256()
    for name, path in sorted(selection.files.items()):
        h.update(name.encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    for name, target in sorted(selection.links.items()):
        h.update(name.encode() + b"\0->" + target.encode() + b"\0")
    return h.hexdigest()


def copy_snapshot(selection: Selection, dest: Path) -> None:
    """Copy the selection into a fresh ``dest`` (atomic: staged, then renamed); private, links kept as links."""
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    for name, path in selection.files.items():
        target = staging / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(path, target)
        target.chmod(stat.S_IMODE(target.stat().st_mode) & 0o700)  # the owner's bits (exec) kept; private
    for name, link in selection.links.items():
        target = staging / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.symlink_to(link)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
