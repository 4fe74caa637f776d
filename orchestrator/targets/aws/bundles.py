"""The two archives an instance downloads from the job's bucket: the code bundle and the agent.

Both are gzip'd tars written deterministically (sorted names, fixed owner, gzip header without a
timestamp), so an unchanged workdir gives the same bytes and Pulumi sees no change. Keys are content
addressed: ``code/<snapshot digest>.tar.gz`` (the digest of orchestrator/targets/local/snapshot.py over
names, bytes and links of the workdir selection, ``orchestrator.workdir``) and ``agent/<sha256>.tar.gz``.
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
from orchestrator.targets.local.snapshot import digest
from orchestrator.workdir import Selection

# What `python -m orchestrator.agent` needs on an instance: the agent, its S3 store, the AWS seam, its umask,
# the metrics journal (recording is off there: it has no trainctl home), its tracing.
AGENT_MODULES = (
    "__init__.py",
    "errors.py",
    "home.py",
    "vocabulary.py",
    "cloud/__init__.py",
    "cloud/aws.py",
    "metrics/__init__.py",
    "metrics/journal.py",
    # its traces (used only when the instance has the OpenTelemetry SDK and the job is traced)
    "tracing/__init__.py",
    "tracing/sdk.py",
    "tracing/cloud.py",
)


@dataclass(frozen=True)
class Bundle:
    """An archive: where it goes in the bucket, where it is (or would be) on this machine."""

    key: str
    path: Path
    digest: str


def code_bundle(selection: Selection, dest_dir: Path, *, write: bool) -> Bundle:
    """The workdir selection as ``code/<digest>.tar.gz``; written under ``dest_dir`` when ``write``."""
    snapshot = digest(selection)
    path = dest_dir / f"code-{snapshot}.tar.gz"
    if write and not path.exists():
        _write_atomically(path, lambda handle: _tar(handle, selection.files.items(), links=selection.links, keep_modes=True))
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


def _tar(
    handle: IO[bytes], entries: Iterable[tuple[str, Path]], *, links: dict[str, str] | None = None, keep_modes: bool = False
) -> None:
    """A deterministic archive of ``entries`` (name, file) and ``links`` (name -> relative target).

    ``keep_modes`` keeps each file's permission bits (a private key stays 0600 were it ever shipped, a
    script stays executable); otherwise files are 0755 or 0644 by whether they are executable.
    """
    with (
        gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in sorted(entries):
            info = tar.gettarinfo(str(path), arcname=name)
            _anonymous(info)
            info.mtime = int(info.mtime)
            if not keep_modes:
                info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with open(path, "rb") as data:
                tar.addfile(info, data)
        for name, target in sorted((links or {}).items()):
            link = tarfile.TarInfo(name)
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, target, 0o777
            _anonymous(link)
            tar.addfile(link)


def _anonymous(info: tarfile.TarInfo) -> None:
    info.uid = info.gid = 0
    info.uname = info.gname = ""


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
