"""A file backend's object store: ``<state dir>/.trainctl/<key>``, private (directories 0700, files 0600).

Writes are atomic (a temporary file renamed over the object). Conditional writes hold an advisory lock
(``flock``) on a lock file beside the object while they compare versions and rename, so two processes
on one machine (or on one NFS mount honouring locks) never both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from orchestrator.store.base import STORE_DIR, ObjectInfo, Versioned, checked_key

LOCK_SUFFIX = ".lock"


class FileStore:
    """Objects as files under ``root`` (the backend's ``.trainctl`` directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of_state_dir(cls, state_dir: Path, directory: str = STORE_DIR) -> FileStore:
        """The store of the file backend whose state directory is ``state_dir`` (objects under ``directory``)."""
        return cls(state_dir / directory)

    @property
    def location(self) -> str:
        return f"file://{self.root}"

    def path(self, key: str) -> Path:
        """The file that holds ``key``."""
        return self.root / checked_key(key)

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_versioned(self, key: str) -> Versioned | None:
        path = self.path(key)
        try:
            with path.open("rb") as handle:
                return Versioned(handle.read(), _version(os.fstat(handle.fileno())))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        write_atomic(self.path(key), data)

    def write_if(self, key: str, data: bytes, *, version: str | None) -> bool:
        path = self.path(key)
        with _locked(path):
            try:
                current: str | None = _version(path.stat())
            except FileNotFoundError:
                current = None
            if current != version:
                return False
            write_atomic(path, data)
            return True

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        base, _, _ = prefix.rpartition("/")
        start = self.root / base if base else self.root
        root = str(self.root)
        for directory, _dirs, names in os.walk(start):
            # Plain strings, not a Path per file: the job index lists every record on each `ls` and scrape.
            relative = os.path.relpath(directory, root)
            inside = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for name in names:
                if name.startswith(".") or name.endswith(LOCK_SUFFIX):
                    continue  # temporary files of writes in progress, lock files
                key = inside + name
                if not key.startswith(prefix):
                    continue
                try:
                    info = os.stat(os.path.join(directory, name))  # noqa: PTH116, PTH118 - strings: see above
                    found.append(ObjectInfo(key, _version(info)))
                except FileNotFoundError:
                    continue  # deleted while listing
        return sorted(found)


def _version(info: os.stat_result) -> str:
    """Inode, modification time and size: a rename of a new file over the object changes them."""
    return f"{info.st_ino:x}-{info.st_mtime_ns:x}-{info.st_size:x}"


def write_atomic(path: Path, data: bytes) -> None:
    """A reader sees the old content or the new one, never half of one; mode 0600, new directories 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<path>.lock`` for the block."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(f"{path}{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
