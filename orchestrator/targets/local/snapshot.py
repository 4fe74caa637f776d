"""Snapshot of ``code.workdir``: the files a job ships, honouring .gitignore, with a content digest."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

ALWAYS_SKIPPED = {".git", "__pycache__", ".venv", ".trainctl", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def list_files(source: Path, *, home: Path | None = None) -> list[str]:
    """Relative paths of the files to ship, sorted. Uses git when ``source`` is in a work tree.

    The trainctl home (``home``, default ``$TRAINCTL_HOME``: state, the state passphrase, other
    jobs' runs and artifacts) is never shipped, whatever its name, when it lies inside ``source``.
    """
    from orchestrator.home import trainctl_home

    inside = _relative_inside(trainctl_home() if home is None else home, source)
    tracked = _git_files(source)
    files = tracked if tracked is not None else _walk(source, _gitignore_patterns(source), skip=inside)
    return sorted(
        f for f in files if not (set(Path(f).parts) & ALWAYS_SKIPPED) and not _under(f, inside) and (source / f).is_file()
    )


def _relative_inside(path: Path, source: Path) -> str | None:
    """``path`` relative to ``source`` when it lies inside it, else None."""
    try:
        return path.resolve().relative_to(source.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _under(rel: str, directory: str | None) -> bool:
    return directory is not None and (directory == "." or rel == directory or rel.startswith(directory + "/"))


def digest(source: Path, files: list[str]) -> str:
    """A content digest over names and bytes: equal digests mean equal snapshots."""
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0")
        with open(source / rel, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def copy_snapshot(source: Path, dest: Path, files: list[str]) -> None:
    """Copy ``files`` from ``source`` into a fresh ``dest`` (atomic: staged, then renamed)."""
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    for rel in files:
        target = staging / rel
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
        target.chmod(stat.S_IMODE(target.stat().st_mode) & 0o700)  # the owner's bits (exec) kept; private
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)


def _git_files(source: Path) -> list[str] | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return [p for p in result.stdout.decode().split("\0") if p]


def _gitignore_patterns(source: Path) -> list[str]:
    ignore = source / ".gitignore"
    if not ignore.is_file():
        return []
    lines = [ln.strip() for ln in ignore.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith(("#", "!"))]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        bare = pattern.strip("/")
        if pattern.startswith("/") or "/" in bare:
            if fnmatch.fnmatch(rel, bare) or rel.startswith(bare + "/"):
                return True
        elif any(fnmatch.fnmatch(part, bare) for part in parts):
            return True
    return False


def _walk(source: Path, patterns: list[str], *, skip: str | None = None) -> list[str]:
    files: list[str] = []
    for root, dirs, names in os.walk(source):
        rel_root = os.path.relpath(root, source)
        dirs[:] = [
            d
            for d in dirs
            if d not in ALWAYS_SKIPPED and not _ignored(_join(rel_root, d), patterns) and not _under(_join(rel_root, d), skip)
        ]
        files.extend(_join(rel_root, n) for n in names if not _ignored(_join(rel_root, n), patterns))
    return files


def _join(root: str, name: str) -> str:
    return name if root == "." else f"{root}/{name}"
