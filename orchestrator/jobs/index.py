"""The job index: one record per job in the backend store (``jobs/<job>.json``), shared by everyone on the backend.

A file backend keeps it in ``<state dir>/.trainctl/jobs/``, an S3 backend under
``<prefix>/.trainctl/jobs/`` of its bucket, so two people with different homes on one backend see the
same jobs. Writers are many processes (the CLI, a watcher, a local agent's teardown): each job is its
own object, written whole and atomically, so writers of different jobs never meet.

The index is a cache of Pulumi state (`trainctl index rebuild` rebuilds it from the stacks), and it may
have a cache of its own: for a remote store, the records read last time are kept under
``$TRAINCTL_HOME/cache/index/<backend id>.json`` with each object's version; a listing (one request)
says which changed, and only those are fetched. The listing is asked every time: the local cache is
never the truth.

A kind of backend trainctl keeps no objects in (``gs://``, ``azblob://``, Pulumi Cloud) has its index in
this home instead (``$TRAINCTL_HOME/index/<backend id>/``): it works, but teammates do not see it.

Records that an earlier trainctl kept in ``$TRAINCTL_HOME/jobs`` belong to the home's default file
backend: the first time that backend's index is opened they move into it (``migrate_legacy_records``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import tracing
from orchestrator.errors import NotFoundError
from orchestrator.jobs.backend import backend_id
from orchestrator.jobs.layout import (
    INDEX_PREFIX,
    LEGACY_DIR,
    default_state_url,
    index_cache_path,
    local_index_dir,
    record_key,
)
from orchestrator.jobs.records import JobRecord, SweepMember, same_point
from orchestrator.store import BackendStore, ObjectInfo, backend_store
from orchestrator.store.files import FileStore
from orchestrator.vocabulary import UNFINISHED_STATES

if TYPE_CHECKING:
    from orchestrator.settings import Settings

CACHE_FORMAT = 1
_FETCH_THREADS = 8


class Ledger:
    """The job records of one backend."""

    def __init__(self, store: BackendStore, cache: Path | None = None) -> None:
        self.store = store
        self.cache = cache
        self._versions: dict[str, str] = {}  # job id -> the version of its record this ledger last read

    @classmethod
    def of(cls, settings: Settings) -> Ledger:
        """The index of the backend in force (records of an earlier trainctl moved into it first, if any)."""
        local = local_index_dir(settings.home, settings.state_url)
        store = FileStore(local) if local is not None else backend_store(settings.state_url)
        if isinstance(store, FileStore) and backend_id(settings.state_url) == backend_id(default_state_url(settings.home)):
            migrate_legacy_records(settings.home, store)
        return cls(store, index_cache_path(settings.home, settings.state_url))

    @classmethod
    def for_home(cls, home: Path) -> Ledger:
        """The index of the backend in force for the trainctl home ``home`` (scripts and tests)."""
        from orchestrator.settings import load_settings

        return cls.of(load_settings(home=home))

    def save(self, record: JobRecord) -> None:
        """Write ``record`` whole; a traced command stamps it with its trace id (``status`` shows it)."""
        self._versions.pop(record.job_id, None)
        self.store.write(record_key(record.job_id), _document(record))

    def save_if_unchanged(self, record: JobRecord) -> JobRecord:
        """Write ``record`` only if its stored record is still the one this ledger read; return what is stored.

        For updates made from what a reader saw (`ls` folding a run's end into a record): when someone else
        changed the job meanwhile (a teammate's `cancel`, the watcher's teardown), theirs stays and is returned.
        A record this ledger never read is written as ``save`` does.
        """
        version = self._versions.pop(record.job_id, None)
        if version is None:
            self.save(record)
            return record
        if self.store.write_if(record_key(record.job_id), _document(record), version=version):
            return record
        return self.load(record.job_id) or record

    def load(self, job_id: str) -> JobRecord | None:
        if not _plain_id(job_id):
            return None
        found = self.store.read_versioned(record_key(job_id))
        if found is None:
            return None
        record = JobRecord.model_validate_json(found.data)
        self._versions[job_id] = found.version
        return record

    def delete(self, job_id: str) -> None:
        self.store.delete(record_key(job_id))

    def listing(self) -> list[ObjectInfo]:
        """The record objects (one request), each with its version."""
        return [info for info in self.store.list(INDEX_PREFIX) if _is_record_key(info.key)]

    def fetch(self, objects: Iterable[ObjectInfo]) -> dict[str, bytes]:
        """The content of ``objects`` by key: from the local cache when its version is current, else fetched.

        Objects deleted since the listing are left out.
        """
        wanted = list(objects)
        cached = _load_cache(self.cache) if self.cache is not None else {}
        found: dict[str, bytes] = {}
        missing: list[ObjectInfo] = []
        for info in wanted:
            hit = cached.get(info.key)
            if hit is not None and hit[0] == info.version:
                found[info.key] = hit[1].encode()
            else:
                missing.append(info)
        if missing:
            found.update(self._fetch_all(missing))
        if self.cache is not None and (missing or len(cached) != len(found)):
            kept = {info.key: [info.version, found[info.key].decode()] for info in wanted if info.key in found}
            _store_cache(self.cache, kept)
        return found

    def documents(self) -> list[dict[str, Any]]:
        """Every record as a plain document (unreadable objects skipped)."""
        listing = self.listing()
        fetched = self.fetch(listing)
        docs = []
        for info in listing:
            if info.key not in fetched:
                continue
            with contextlib.suppress(ValueError):
                doc = json.loads(fetched[info.key])
                if isinstance(doc, dict):
                    docs.append(doc)
                    self._versions[info.key[len(INDEX_PREFIX) : -len(".json")]] = info.version
        return docs

    def all(self) -> list[JobRecord]:
        """Every record, newest first. Unreadable records are skipped, never fatal."""
        records = []
        for doc in self.documents():
            with contextlib.suppress(ValueError):
                records.append(JobRecord.model_validate(doc))
        return sorted(records, key=lambda r: r.created, reverse=True)

    def resolve(self, ref: str) -> JobRecord:
        """A job by id, or the newest job of that name."""
        exact = self.load(ref)
        if exact is not None:
            return exact
        matches = [r for r in self.all() if r.name == ref]
        if not matches:
            raise NotFoundError(f"no job {ref!r}", hint="`trainctl ls` lists jobs; use the job id or the job name")
        return matches[0]

    def newest_unfinished(self, name: str, sweep: SweepMember | None = None) -> JobRecord | None:
        """The newest job of ``name`` that has not reached a final state: of that point of a sweep
        (``sweep``), or launched by no sweep."""
        for record in self.all():
            if record.name == name and record.state in UNFINISHED_STATES and same_point(record.sweep, sweep):
                return record
        return None

    def of_sweep(self, sweep_id: str) -> list[JobRecord]:
        """Every job of the sweep ``sweep_id``, newest first; NotFoundError when it has none."""
        records = [r for r in self.all() if r.sweep is not None and r.sweep.sweep_id == sweep_id]
        if not records:
            raise NotFoundError(f"no sweep {sweep_id!r}", hint="`trainctl ls` shows each job's sweep_id (`--output json`)")
        return records

    def _fetch_all(self, missing: list[ObjectInfo]) -> dict[str, bytes]:
        def one(info: ObjectInfo) -> tuple[str, bytes | None]:
            return info.key, self.store.read(info.key)

        if len(missing) == 1 or self.cache is None:  # local files: threads would not help
            pairs = [one(info) for info in missing]
        else:
            with ThreadPoolExecutor(max_workers=min(_FETCH_THREADS, len(missing))) as pool:
                pairs = list(pool.map(one, missing))
        return {key: data for key, data in pairs if data is not None}


def _document(record: JobRecord) -> bytes:
    """The stored form of ``record``, stamped with the running command's trace id when it is traced."""
    trace_id = tracing.trace_id()
    if trace_id is not None and record.trace_id != trace_id:
        record = record.model_copy(update={"trace_id": trace_id})
    return record.model_dump_json(indent=1).encode()


def migrate_legacy_records(home: Path, store: FileStore) -> int:
    """Move the records of ``$TRAINCTL_HOME/jobs`` into ``store``; return how many moved. Idempotent.

    A record the store does not have is written (only if still absent: a concurrent migration or a
    newer save wins); one it has is replaced only when the legacy file is newer (an older trainctl
    still running wrote it last). The legacy file goes only once the store holds the job's record.
    """
    legacy = home / LEGACY_DIR
    try:
        paths = [p for p in legacy.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    moved = 0
    for path in paths:
        key = record_key(path.stem)
        try:
            data, written = path.read_bytes(), path.stat().st_mtime
        except FileNotFoundError:
            continue  # moved by a concurrent migration
        if not _plain_id(path.stem):
            continue
        if not store.write_if(key, data, version=None) and _mtime(store.path(key)) < written:
            store.write(key, data)
        path.unlink(missing_ok=True)
        moved += 1
    with contextlib.suppress(OSError):
        legacy.rmdir()  # only when empty: files that are not records stay where they are
    return moved


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _plain_id(job_id: str) -> bool:
    """Whether ``job_id`` can name a record (no path separators, not '.' or '..')."""
    return bool(job_id) and "/" not in job_id and "\\" not in job_id and job_id not in (".", "..")


def _is_record_key(key: str) -> bool:
    name = key[len(INDEX_PREFIX) :]
    return key.startswith(INDEX_PREFIX) and name.endswith(".json") and "/" not in name and not name.startswith(".")


def _load_cache(path: Path) -> dict[str, list[str]]:
    try:
        doc = json.loads(path.read_bytes())
        return dict(doc["objects"]) if doc.get("format") == CACHE_FORMAT else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _store_cache(path: Path, objects: dict[str, list[str]]) -> None:
    """Write the cache atomically (a temporary file per process, then a rename); failing only loses the speed-up."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "objects": objects}, separators=(",", ":")))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
