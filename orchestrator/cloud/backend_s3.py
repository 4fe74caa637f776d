"""An S3 backend's object store: ``s3://BUCKET/<prefix>/.trainctl/<key>``, beside the engine's ``.pulumi/``.

The store reaches the bucket as the engine does for the same backend URL: the URL's ``endpoint``,
``region``, ``use_path_style`` (or ``s3ForcePathStyle``) and ``profile`` query parameters when given;
otherwise botocore's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` and the usual AWS credentials
and region. Other query parameters the engine accepts change nothing here. Each write is one PUT
(atomic in S3); conditional writes use S3's ``If-None-Match`` / ``If-Match`` preconditions. Errors
leave as trainctl errors (throttling and 5xx retryable, under the one retry policy).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from orchestrator.cloud import aws
from orchestrator.errors import CloudError, InvalidInputError
from orchestrator.store.base import STORE_DIR, ObjectInfo, Versioned, checked_key

T = TypeVar("T")
_TRUE = ("true", "1", "yes")
# What S3 answers when a precondition fails (412), or when a concurrent conditional write won (409).
_LOST_RACE_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://`` backend URL: where its objects are and how to reach them."""

    bucket: str
    prefix: str  # '' or 'team/prefix/' (always ending in '/')
    endpoint: str | None = None
    region: str | None = None
    path_style: bool = False
    profile: str | None = None


def parse_s3_url(url: str) -> S3Location:
    """The bucket, prefix and connection parameters of ``s3://BUCKET[/prefix][?query]``; exit 2 when malformed."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidInputError(f"not an S3 backend URL: {url!r}", hint="use s3://BUCKET[/prefix][?region=...]")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    path_style = any(query.get(name, "").lower() in _TRUE for name in ("use_path_style", "s3ForcePathStyle"))
    prefix = parts.path.strip("/")
    return S3Location(
        bucket=parts.netloc,
        prefix=f"{prefix}/" if prefix else "",
        endpoint=query.get("endpoint") or None,
        region=query.get("region") or None,
        path_style=path_style,
        profile=query.get("profile") or None,
    )


class S3Store:
    """Objects under ``<prefix>.trainctl/`` in the backend's bucket."""

    def __init__(self, where: S3Location, directory: str = STORE_DIR) -> None:
        self.where = where
        self.base = f"{where.prefix}{directory}/"

    @classmethod
    def of_url(cls, url: str, directory: str = STORE_DIR) -> S3Store:
        return cls(parse_s3_url(url), directory)

    @property
    def location(self) -> str:
        return f"s3://{self.where.bucket}/{self.base.rstrip('/')}"

    def read(self, key: str) -> bytes | None:
        found = self.read_versioned(key)
        return None if found is None else found.data

    def read_versioned(self, key: str) -> Versioned | None:
        name = self._name(key)

        def get() -> Versioned:
            answer = self._client().get_object(Bucket=self.where.bucket, Key=name)
            return Versioned(answer["Body"].read(), str(answer["ETag"]))

        try:
            return self._call("reading", name, get)
        except CloudError as e:
            if aws.is_not_found(e):
                return None
            raise

    def write(self, key: str, data: bytes) -> None:
        name = self._name(key)
        self._call("writing", name, lambda: self._client().put_object(Bucket=self.where.bucket, Key=name, Body=data))

    def write_if(self, key: str, data: bytes, *, version: str | None) -> bool:
        name = self._name(key)
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}

        def put() -> None:
            self._client().put_object(Bucket=self.where.bucket, Key=name, Body=data, **condition)

        try:
            self._call("writing (conditionally)", name, put)
        except CloudError as e:
            if aws.error_code(e) in _LOST_RACE_CODES or (version is not None and aws.is_not_found(e)):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        self._call("deleting", name, lambda: self._client().delete_object(Bucket=self.where.bucket, Key=name))

    def list(self, prefix: str) -> list[ObjectInfo]:
        full = self.base + prefix

        def listing() -> list[ObjectInfo]:
            pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=self.where.bucket, Prefix=full)
            return [
                ObjectInfo(item["Key"][len(self.base) :], str(item["ETag"]))
                for page in pages
                for item in page.get("Contents", ())
            ]

        return sorted(self._call("listing", full, listing))

    def _name(self, key: str) -> str:
        return self.base + checked_key(key)

    def _call(self, verb: str, name: str, func: Callable[[], T]) -> T:
        operation = f"{verb} s3://{self.where.bucket}/{name}"
        return aws.call(operation, func, bucket=self.where.bucket)

    def _client(self) -> Any:
        region = self.where.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return aws.client(
            "s3",
            region=region,
            endpoint_url=self.where.endpoint,
            max_attempts=aws.CALL_MAX_ATTEMPTS,
            use_settings=False,
            path_style=self.where.path_style,
            profile=self.where.profile,
        )
