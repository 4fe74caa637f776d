"""Artifact stores the agent writes to: a local directory (``file://``), S3 on AWS (``s3://``).

Keys are '/'-separated paths inside the job's store: ``status.json``, ``logs/output.log``,
``checkpoints/<name>``, ``outputs/<path>``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol


class Store(Protocol):
    """Where a job's durable files live."""

    url: str

    def write_text(self, key: str, text: str) -> None: ...
    def read_text(self, key: str) -> str | None: ...
    def put_path(self, local: Path, key: str) -> None: ...
    def get_path(self, key: str, local: Path) -> None: ...
    def list_dir(self, prefix: str) -> list[tuple[str, float]]: ...
    def delete(self, key: str) -> None: ...
    def local_path(self, key: str) -> Path | None: ...


class LocalStore:
    """A directory on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def write_text(self, key: str, text: str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        Path(tmp).replace(path)

    def read_text(self, key: str) -> str | None:
        try:
            return (self.root / key).read_text()
        except FileNotFoundError:
            return None

    def put_path(self, local: Path, key: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.partial"
        _remove(staging)
        if local.is_dir():
            shutil.copytree(local, staging)
        else:
            shutil.copy2(local, staging)
        _remove(target)
        staging.rename(target)

    def get_path(self, key: str, local: Path) -> None:
        source = self.root / key
        local.parent.mkdir(parents=True, exist_ok=True)
        _remove(local)
        if source.is_dir():
            shutil.copytree(source, local)
        else:
            shutil.copy2(source, local)

    def list_dir(self, prefix: str) -> list[tuple[str, float]]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return [(entry.name, entry.stat().st_mtime) for entry in base.iterdir() if not entry.name.startswith(".")]

    def delete(self, key: str) -> None:
        _remove(self.root / key)

    def local_path(self, key: str) -> Path | None:
        return self.root / key


def open_store(url: str) -> Store:
    """The store behind ``url`` (``file:///abs/dir`` or ``s3://bucket/prefix``)."""
    if url.startswith("file://"):
        return LocalStore(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        from orchestrator.agent.s3store import S3Store

        return S3Store(url)
    raise ValueError(f"unsupported artifact store URL {url!r}: expected file:// or s3://")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
