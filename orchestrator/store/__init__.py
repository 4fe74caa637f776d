"""The backend object store: trainctl's own objects beside Pulumi's state, in the same backend.

A file backend keeps them under ``<state dir>/.trainctl/``, an S3 backend under ``<prefix>/.trainctl/``
of the same bucket (``orchestrator.cloud.backend_s3``). Callers get a ``BackendStore`` for the backend
URL in force and never look at its scheme: the kind of store is chosen from the table below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from orchestrator.errors import InvalidInputError
from orchestrator.store.base import ENGINE_DIR, STORE_DIR, BackendStore, ObjectInfo, Versioned

__all__ = ["ENGINE_DIR", "STORE_DIR", "BackendStore", "ObjectInfo", "Versioned", "backend_store", "file_state_dir"]


def file_state_dir(state_url: str) -> Path | None:
    """The state directory of a ``file://`` backend URL (None for any other kind of backend)."""
    parts = urlsplit(state_url)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.netloc + parts.path)).expanduser()


def _file_store(url: str, directory: str) -> BackendStore:
    from orchestrator.store.files import FileStore

    state_dir = file_state_dir(url)
    assert state_dir is not None
    return FileStore.of_state_dir(state_dir, directory)


def _s3_store(url: str, directory: str) -> BackendStore:
    from orchestrator.cloud.backend_s3 import S3Store

    return S3Store.of_url(url, directory)


# Backend URL scheme -> the store of such a backend. Imported lazily: boto3 only for S3 backends.
STORES: dict[str, Callable[[str, str], BackendStore]] = {"file": _file_store, "s3": _s3_store}


def backend_store(state_url: str, directory: str = STORE_DIR) -> BackendStore:
    """The object store of the backend at ``state_url``; exit 2 for a kind of backend trainctl keeps no objects in.

    ``directory`` is the directory (or key prefix) under the backend's root: trainctl's own ``.trainctl``,
    or ``ENGINE_DIR`` for the engine's objects.
    """
    scheme = urlsplit(state_url).scheme.lower()
    make = STORES.get(scheme)
    if make is None:
        kinds = ", ".join(f"{name}://" for name in STORES)
        raise InvalidInputError(
            f"trainctl cannot keep its job index and team policy in a {scheme}:// backend",
            context={"backend": state_url.split("?", 1)[0]},
            hint=f"use a backend of one of these kinds: {kinds}",
        )
    return make(state_url, directory)
