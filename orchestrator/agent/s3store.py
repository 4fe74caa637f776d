"""The artifact store on S3: ``s3://bucket/prefix``, the Store protocol of ``orchestrator.agent.store``.

Keys map to objects under the prefix. A directory (a checkpoint directory, the outputs) is stored as
the objects below ``key/`` plus a completion marker written last, so a half-uploaded directory is
never listed. Each object carries the local modification time as metadata, so checkpoints order the
same way as in a local store. boto3 is imported on first use; clients come from the one factory in
``orchestrator.cloud.aws`` (the endpoint from ``AWS_ENDPOINT_URL`` is honoured by botocore itself).

Each S3 operation runs under the one retry policy (``aws.call``: throttling, 5xx and dropped connections
are retried with backoff, each retry logged); botocore itself makes one attempt per request. Where the
policy is not installed (the agent on an instance has boto3 only) botocore's own budget is all there is,
so the client gets ``AGENT_MAX_ATTEMPTS`` instead. Failures: ``put_path``/``get_path``/``list_dir``/
``delete`` raise StoreError (an OSError, which the supervisor's checkpoint sync retries at its next
interval). ``write_text`` is best effort, within ``WRITE_BUDGET_S``: status is rewritten at every
heartbeat, and raising or stalling there would stop the supervisor from watching a healthy run.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.cloud import aws
from orchestrator.errors import TrainctlError

T = TypeVar("T")
MARKER = ".trainctl-complete"
MTIME_META = "trainctl-mtime"
AGENT_MAX_ATTEMPTS = 5  # botocore's attempts where trainctl's retry policy is not installed
WRITE_BUDGET_S = 10.0  # the longest a best-effort status write may keep the supervisor waiting


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
        body = text.encode()
        try:
            self._call(
                "write",
                key,
                lambda: self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, ContentType="application/json"),
                max_total_s=WRITE_BUDGET_S,
            )
        except StoreError as e:
            self.last_error = str(e)
            print(f"[trainctl] could not write {key} to {self.url} (retried at the next write): {e}", file=sys.stderr)
            return
        self.last_error = None

    def read_text(self, key: str) -> str | None:
        try:
            body = self._call("read", key, lambda: self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())
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

        def listing() -> tuple[list[tuple[str, float]], list[str]]:
            files: list[tuple[str, float]] = []
            dirs: list[str] = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
                files += [(o["Key"][len(base) :], o["LastModified"].timestamp()) for o in page.get("Contents", [])]
                dirs += [p["Prefix"][len(base) : -1] for p in page.get("CommonPrefixes", [])]
            return files, dirs

        files, dirs = self._call("list", prefix, listing)
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
        self._delete_keys("delete", key, ordered)

    def local_path(self, key: str) -> Path | None:
        return None

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def s3(self) -> Any:
        if self._client is None:
            attempts = aws.CALL_MAX_ATTEMPTS if aws.retry_available() else AGENT_MAX_ATTEMPTS
            self._client = aws.client("s3", region=self._region, max_attempts=attempts, use_settings=False)
        return self._client

    def _key(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put_dir(self, local: Path, key: str) -> None:
        base = self._key(key)
        marker = f"{base}/{MARKER}"
        self._call("put", key, lambda: self.s3.delete_object(Bucket=self.bucket, Key=marker))
        wanted = set()
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = path.relative_to(local).as_posix()
            wanted.add(f"{base}/{rel}")
            self._upload(path, f"{base}/{rel}")
        stale = [o["Key"] for o in self._objects(base + "/") if o["Key"] not in wanted and o["Key"] != marker]
        self._delete_keys("put", key, stale)
        meta = {MTIME_META: repr(local.stat().st_mtime)}
        self._call("put", key, lambda: self.s3.put_object(Bucket=self.bucket, Key=marker, Body=b"", Metadata=meta))

    def _upload(self, local: Path, key: str) -> None:
        extra = {"Metadata": {MTIME_META: repr(local.stat().st_mtime)}}
        self._call("upload", key, lambda: self.s3.upload_file(str(local), self.bucket, key, ExtraArgs=extra), raw=True)

    def _delete_keys(self, verb: str, key: str, keys: list[str]) -> None:
        def delete_batch(batch: list[dict[str, str]]) -> None:
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._call(verb, key, functools.partial(delete_batch, batch))

    def _download(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
        os.close(fd)
        try:
            head: dict[str, Any] = self._call("head", key, lambda: self.s3.head_object(Bucket=self.bucket, Key=key), raw=True)
            self._call("download", key, lambda: self.s3.download_file(self.bucket, key, tmp), raw=True)
            Path(tmp).replace(local)
        finally:
            Path(tmp).unlink(missing_ok=True)
        _set_mtime(local, head)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._call("head", key, lambda: self.s3.head_object(Bucket=self.bucket, Key=key), raw=True)
        except StoreError as e:
            if aws.is_not_found(e.__cause__ or e):
                return None
            raise
        return head

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        def listing() -> list[dict[str, Any]]:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return [obj for page in pages for obj in page.get("Contents", [])]

        return self._call("list", prefix, listing, raw=True)

    def _call(self, verb: str, key: str, func: Callable[[], T], *, max_total_s: float | None = None, raw: bool = False) -> T:
        """``func`` under the one retry policy; a failure leaves as StoreError with the trainctl error as cause.

        ``key`` is relative to the prefix, unless ``raw`` (then it is the object key itself).
        """
        target = key if raw else self._key(key)
        try:
            return aws.call(f"S3 {verb} s3://{self.bucket}/{target}", func, max_total_s=max_total_s)
        except TrainctlError as translated:
            raise StoreError(translated.message) from translated


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
