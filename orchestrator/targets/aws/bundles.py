"""The two archives an instance downloads from the job's bucket: the code bundle and the agent.

Both are gzip'd tars written deterministically (sorted names, fixed owner, gzip header without a
timestamp), so an unchanged workdir gives the same bytes and Pulumi sees no change. Keys are content
addressed: ``code/<snapshot digest>.tar.gz`` (the digest of orchestrator/targets/local/snapshot.py over
names and bytes) and ``agent/<sha256>.tar.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.targets.aws.names import agent_key, code_key
from orchestrator.targets.local.snapshot import digest, list_files

# What `python -m orchestrator.agent` needs on an instance: the agent, its S3 store, the AWS seam, its umask.
AGENT_MODULES = ("__init__.py", "errors.py", "home.py", "vocabulary.py", "cloud/__init__.py", "cloud/aws.py")


@dataclass(frozen=True)
class Bundle:
    """An archive: where it goes in the bucket, where it is (or would be) on this machine."""

    key: str
    path: Path
    digest: str


def code_bundle(source: Path, dest_dir: Path, *, write: bool) -> Bundle:
    """The snapshot of ``source`` as ``code/<digest>.tar.gz``; written under ``dest_dir`` when ``write``."""
    files = list_files(source)
    snapshot = digest(source, files)
    path = dest_dir / f"code-{snapshot}.tar.gz"
    if write and not path.exists():
        _write_atomically(path, lambda handle: _tar(handle, ((rel, source / rel) for rel in files)))
    return Bundle(key=code_key(snapshot), path=path, digest=snapshot)


def agent_bundle(dest_dir: Path, *, write: bool) -> Bundle:
    """This trainctl's agent code as ``agent/<sha256>.tar.gz``; written under ``dest_dir`` when ``write``."""
    buffer = io.BytesIO()
    _tar(buffer, agent_files())
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    path = dest_dir / f"agent-{sha}.tar.gz"
    if write and not path.exists():
        _write_atomically(path, lambda handle: handle.write(data))
    return Bundle(key=agent_key(sha), path=path, digest=sha)


def agent_files() -> list[tuple[str, Path]]:
    """(archive name, file) of the agent's modules, relative to the package's parent directory."""
    package = Path(__file__).resolve().parents[2]
    names = [*AGENT_MODULES, *sorted(p.relative_to(package).as_posix() for p in (package / "agent").glob("*.py"))]
    return [(f"orchestrator/{name}", package / name) for name in names]


def _tar(handle: IO[bytes], entries: Iterable[tuple[str, Path]]) -> None:
    with (
        gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in sorted(entries):
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = int(info.mtime)
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with open(path, "rb") as data:
                tar.addfile(info, data)


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
