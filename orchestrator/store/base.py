"""What every backend object store offers: keyed objects with versions, atomic and conditional writes.

Keys are relative, '/'-separated paths (``jobs/<job>.json``); each store maps them under the backend's
``.trainctl/`` directory or prefix. A version is an opaque token that changes whenever the object is
replaced (an S3 ETag; for a file, its inode, modification time and size): a cache may keep an object's
content under its version and fetch only what changed, and a conditional write replaces an object only
if it still has the version the writer read.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from orchestrator.errors import InvalidInputError

STORE_DIR = ".trainctl"  # beside ``.pulumi/`` under the backend's root, in every kind of backend
ENGINE_DIR = ".pulumi"  # the engine's own objects (stacks, their tags, locks): read, and tags written, by orchestrator.engine


class ObjectInfo(NamedTuple):
    """One object of a listing: its key (relative to the store) and its current version."""

    key: str
    version: str


class Versioned(NamedTuple):
    """An object's content and the version it had when it was read."""

    data: bytes
    version: str


class BackendStore(Protocol):
    """trainctl's objects in the backend in force, whatever its kind (see ``orchestrator.store.backend_store``)."""

    @property
    def location(self) -> str:
        """Where the store's objects are, for messages (``file:///...`` or ``s3://bucket/prefix/.trainctl``)."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's content; None when there is none."""
        ...

    def read_versioned(self, key: str) -> Versioned | None:
        """The object's content with its version; None when there is none."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Replace the object at once: readers see the old content or the new one, never a part."""
        ...

    def write_if(self, key: str, data: bytes, *, version: str | None) -> bool:
        """Write only if the object still has ``version`` (None: only if there is no object); False otherwise."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (nothing happens when there is none)."""
        ...

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, with its version, in key order."""
        ...


def checked_key(key: str) -> str:
    """``key`` if it is a relative path of plain names; InvalidInputError otherwise (no '..', no absolute keys)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in key:
        raise InvalidInputError(f"invalid object key {key!r} in the backend store", hint="keys are relative paths of plain names")
    return key
