"""The artifact store on S3: ``s3://bucket/prefix``, the Store protocol of ``orchestrator.agent.store``.

Keys map to objects under the prefix. A directory (a checkpoint directory, the outputs) is stored as
the objects below ``key/`` plus a completion marker written last, so a half-uploaded directory is
never listed. Each object carries the local modification time as metadata, so checkpoints order the
same way as in a local store. boto3 is imported on first use; clients come from the one factory in
``orchestrator.cloud.aws`` (the endpoint from ``AWS_ENDPOINT_URL`` is honoured by botocore itself).

Failures: ``put_path``/``get_path``/``list_dir``/``delete`` raise StoreError (an OSError, which the
supervisor's checkpoint sync retries at its next interval). ``write_text`` is best effort: status is
rewritten at every heartbeat, and raising there would stop the supervisor and orphan a healthy run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from orchestrator.cloud import aws
from orchestrator.errors import TrainctlError

MARKER = ".trainctl-complete"
MTIME_META = "trainctl-mtime"
AGENT_MAX_ATTEMPTS = 5


class StoreError(OSError):
    """An S3 operation of the store failed after retries."""


class S3Store:
    """A job's artifact store in S3."""

    def __init__(self, url: str, *, client: Any = None, region: str | None = None) -> None:
        if not url.startswith("s3://"):
            raise ValueError(f"not an S3 URL: {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._client = client
        self._region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.last_error: str | None = None

    # -- Store protocol ---------------------------------------------------------------------------
    def write_text(self, key: str, text: str) -> None:
        try:
            with self._calling("write", key):
                self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=text.encode(), ContentType="application/json")
        except StoreError as e:
            self.last_error = str(e)
            print(f"[trainctl] could not write {key} to {self.url} (retried at the next write): {e}", file=sys.stderr)
            return
        self.last_error = None

    def read_text(self, key: str) -> str | None:
        try:
            with self._calling("read", key):
                body = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except StoreError as e:
            if aws.is_not_found(e.__cause__ or e):
                return None
            raise
        return str(body.decode())

    def put_path(self, local: Path, key: str) -> None:
        if local.is_dir():
            self._put_dir(local, key)
        else:
            self._upload(local, self._key(key))

    def get_path(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        staging = local.parent / f".{local.name}.partial"
        _remove(staging)
        if self._head(self._key(key)) is not None:
            self._download(self._key(key), staging)
        else:
            objects = [o for o in self._objects(self._key(key) + "/") if not o["Key"].endswith("/" + MARKER)]
            if not objects:
                raise StoreError(f"{self.url}: no object or directory {key!r}")
            staging.mkdir()
            base = len(self._key(key)) + 1
            for obj in objects:
                self._download(obj["Key"], staging / obj["Key"][base:])
            marker = self._head(self._key(f"{key}/{MARKER}"))
            if marker is not None:
                _set_mtime(staging, marker)
        _remove(local)
        staging.rename(local)

    def list_dir(self, prefix: str) -> list[tuple[str, float]]:
        base = self._key(prefix) + "/"
        files: list[tuple[str, float]] = []
        dirs: list[str] = []
        with self._calling("list", prefix):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
                files += [(o["Key"][len(base) :], o["LastModified"].timestamp()) for o in page.get("Contents", [])]
                dirs += [p["Prefix"][len(base) : -1] for p in page.get("CommonPrefixes", [])]
        entries: list[tuple[str, float]] = []
        for name, modified in files:
            if name and not name.startswith("."):
                head = self._head(base + name)
                entries.append((name, _mtime(head, modified)))
        for name in dirs:
            head = self._head(f"{base}{name}/{MARKER}")
            if head is not None and not name.startswith("."):  # no marker: still uploading, or abandoned
                entries.append((name, _mtime(head, head["LastModified"].timestamp())))
        return entries

    def delete(self, key: str) -> None:
        keys = [self._key(key)] + [o["Key"] for o in self._objects(self._key(key) + "/")]
        marker = [k for k in keys if k.endswith("/" + MARKER)]
        ordered = marker + [k for k in keys if k not in marker]  # the marker first: never a listed, partial dir
        with self._calling("delete", key):
            for start in range(0, len(ordered), 1000):
                batch = [{"Key": k} for k in ordered[start : start + 1000]]
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def local_path(self, key: str) -> Path | None:
        return None

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = aws.client("s3", region=self._region, max_attempts=AGENT_MAX_ATTEMPTS, use_settings=False)
        return self._client

    def _key(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put_dir(self, local: Path, key: str) -> None:
        base = self._key(key)
        marker = f"{base}/{MARKER}"
        with self._calling("put", key):
            self.s3.delete_object(Bucket=self.bucket, Key=marker)
        wanted = set()
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = path.relative_to(local).as_posix()
            wanted.add(f"{base}/{rel}")
            self._upload(path, f"{base}/{rel}")
        stale = [o["Key"] for o in self._objects(base + "/") if o["Key"] not in wanted and o["Key"] != marker]
        with self._calling("put", key):
            for start in range(0, len(stale), 1000):
                batch = [{"Key": k} for k in stale[start : start + 1000]]
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            self.s3.put_object(Bucket=self.bucket, Key=marker, Body=b"", Metadata={MTIME_META: repr(local.stat().st_mtime)})

    def _upload(self, local: Path, key: str) -> None:
        extra = {"Metadata": {MTIME_META: repr(local.stat().st_mtime)}}
        with self._calling("upload", key):
            self.s3.upload_file(str(local), self.bucket, key, ExtraArgs=extra)

    def _download(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
        os.close(fd)
        try:
            with self._calling("download", key):
                self.s3.download_file(self.bucket, key, tmp)
                head = self.s3.head_object(Bucket=self.bucket, Key=key)
            Path(tmp).replace(local)
        finally:
            Path(tmp).unlink(missing_ok=True)
        _set_mtime(local, head)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with self._calling("head", key):
                head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key)
        except StoreError as e:
            if aws.is_not_found(e.__cause__ or e):
                return None
            raise
        return head

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with self._calling("list", prefix):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found += page.get("Contents", [])
        return found

    def _calling(self, verb: str, key: str) -> _StoreCall:
        return _StoreCall(f"S3 {verb} s3://{self.bucket}/{self._key(key)}")


class _StoreCall:
    """Translate AWS failures (via the cloud seam) into StoreError, keeping the trainctl error as cause."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._inner = aws.calling(operation)

    def __enter__(self) -> None:
        self._inner.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> Literal[False]:
        try:
            self._inner.__exit__(exc_type, exc, tb)
        except TrainctlError as translated:
            raise StoreError(translated.message) from translated
        return False


def _mtime(head: dict[str, Any] | None, fallback: float) -> float:
    if head is None:
        return fallback
    value = (head.get("Metadata") or {}).get(MTIME_META)
    try:
        return float(value) if value is not None else fallback
    except ValueError:
        return fallback


def _set_mtime(path: Path, head: dict[str, Any]) -> None:
    mtime = _mtime(head, head["LastModified"].timestamp())
    os.utime(path, (mtime, mtime))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
