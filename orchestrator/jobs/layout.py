"""Where the job index keeps things: its keys in the backend store, its local cache, the legacy directory.

Light on purpose (no pydantic, no boto3): shell completion reads job ids through it on every Tab press.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.jobs.backend import backend_id
from orchestrator.store import STORE_DIR, STORES, file_state_dir

INDEX_PREFIX = "jobs/"
LEGACY_DIR = "jobs"  # $TRAINCTL_HOME/jobs: where records were kept before they moved into the backend
CACHE_DIR = "cache/index"
LOCAL_INDEX_DIR = "index"  # $TRAINCTL_HOME/index/<backend id>: the index of a backend that keeps no trainctl objects


def record_key(job_id: str) -> str:
    """The store key of a job's record."""
    return f"{INDEX_PREFIX}{job_id}.json"


def default_state_url(home: Path) -> str:
    """The default backend of a home: a file backend in ``$TRAINCTL_HOME/state``."""
    return f"file://{home / 'state'}"


def index_cache_path(home: Path, state_url: str) -> Path | None:
    """Where the local cache of a backend's index lives (None: an index on this machine, read directly, needs none)."""
    if file_state_dir(state_url) is not None or local_index_dir(home, state_url) is not None:
        return None
    return home / CACHE_DIR / f"{backend_id(state_url)}.json"


def local_index_dir(home: Path, state_url: str) -> Path | None:
    """For a kind of backend trainctl keeps no objects in (gs://, azblob://, Pulumi Cloud): the directory of
    this home that holds its job index instead (not shared with teammates). None for every other backend."""
    if state_url.split("://", 1)[0].lower() in STORES:
        return None
    return home / LOCAL_INDEX_DIR / backend_id(state_url)


def known_job_ids(home: Path, state_url: str) -> list[tuple[float, str]]:
    """(when last written, job id) of the jobs this machine can name without a request: a file backend's
    records, or those in a remote index's local cache (as of the last listing); legacy records too."""
    directories = [home / LEGACY_DIR]
    state_dir = file_state_dir(state_url)
    if state_dir is not None:
        directories.append(state_dir / STORE_DIR / INDEX_PREFIX)
    local = local_index_dir(home, state_url)
    if local is not None:
        directories.append(local / INDEX_PREFIX)
    found: dict[str, float] = {}
    for directory in directories:
        try:
            entries = [e for e in directory.iterdir() if e.name.endswith(".json") and not e.name.startswith(".")]
        except OSError:
            continue
        for entry in entries:
            found[entry.name[: -len(".json")]] = entry.stat().st_mtime
    cache = index_cache_path(home, state_url)
    if cache is not None:
        try:
            objects = json.loads(cache.read_bytes()).get("objects", {})
            mtime = cache.stat().st_mtime
        except (OSError, ValueError, AttributeError):
            objects, mtime = {}, 0.0
        for key in objects:
            if isinstance(key, str) and key.startswith(INDEX_PREFIX) and key.endswith(".json"):
                found[key[len(INDEX_PREFIX) : -len(".json")]] = mtime
    return [(when, job_id) for job_id, when in found.items()]
