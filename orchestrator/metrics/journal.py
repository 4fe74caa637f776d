"""The metrics journal: counters and histograms recorded by many short-lived processes, folded at scrape time.

Every trainctl command and every local agent is a short-lived process, so none of them can hold a
Prometheus registry that a server scrapes. Each appends its events instead (one JSON line per counter
increment or histogram observation) to ``$TRAINCTL_HOME/metrics/journal.jsonl``; the exporter
(``orchestrator.metrics.exporter``) folds the journal into totals when it is scraped.

Bounded: when the journal passes ``COMPACT_BYTES``, the process that notices folds it into
``snapshot.json`` (totals per metric and label set: its size depends on the label values, never on how
many events there were) and starts a new journal. Disk use and scrape time stay flat after any number
of commands.

Concurrency, without a server:
- writers open the journal for appending, take a shared ``flock`` on it, check that the file they
  opened is still the journal (compaction renames it), write one line, and close it;
- compaction (an exclusive, non-blocking ``flock`` on ``compact.lock``) renames the journal to a
  segment, waits for an exclusive lock on the segment (writers that opened it before the rename finish
  first), folds snapshot and segments into a new snapshot that names the segments it folded (written
  by rename, so a crash leaves either the old snapshot or the new one), then deletes those segments;
- readers hold a shared lock on ``compact.lock`` while they read snapshot, segments and journal.

Recording never fails a command: a journal that cannot be written is reported once on stderr. The
totals of this process are also kept in memory (``run_totals``) for the Pushgateway push at exit. A
process that did not ``activate`` a home (an agent on an instance) records nothing.
The names, types and labels here are a contract (dashboards and alerts depend on them); gauges are
computed at scrape time and only declared here. Standard library only: the agent imports it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["counter", "histogram", "gauge"]

DIR_NAME = "metrics"
JOURNAL = "journal.jsonl"
SNAPSHOT = "snapshot.json"
LOCK = "compact.lock"
SEGMENT_PREFIX = "segment-"
COMPACT_BYTES = 256 * 1024
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class Metric:
    """One metric of trainctl's contract."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()


_API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ALLOCATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
_SYNC_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("trainctl_training_jobs_started_total", "counter", ("target", "team"), "Jobs whose first run started."),
        Metric("trainctl_training_jobs_completed_total", "counter", ("target", "team"), "Jobs that ended succeeded."),
        Metric(
            "trainctl_training_jobs_failed_total",
            "counter",
            ("target", "team", "reason"),
            "Jobs that ended failed, by reason (exit_code, setup, max_runtime, budget, preemptions, agent_lost, other).",
        ),
        Metric("trainctl_jobs", "gauge", ("state", "target", "team"), "Jobs in the job index, by state."),
        Metric(
            "trainctl_cloud_api_call_duration_seconds",
            "histogram",
            ("service", "operation", "outcome"),
            "Cloud API calls: latency by service, operation and outcome (ok, retried: a transient error, error).",
            _API_BUCKETS,
        ),
        Metric(
            "trainctl_cloud_api_retries_total", "counter", ("service", "operation"), "Cloud API calls that failed transiently."
        ),
        Metric(
            "trainctl_resource_allocation_duration_seconds",
            "histogram",
            ("target",),
            "From `up` (or a relaunch) allocating a job until its run started.",
            _ALLOCATION_BUCKETS,
        ),
        Metric(
            "trainctl_cost_accumulated_usd", "gauge", ("team", "target"), "Cost of every job in the index, recorded and accruing."
        ),
        Metric("trainctl_cost_rate_usd_per_hour", "gauge", ("team", "target"), "Burn rate of the running jobs."),
        Metric("trainctl_job_cost_usd", "gauge", ("job_id", "team", "target"), "Cost so far of each running job."),
        Metric("trainctl_preemptions_total", "counter", ("target",), "Spot preemptions seen (relaunched or given up on)."),
        Metric(
            "trainctl_checkpoint_sync_duration_seconds",
            "histogram",
            ("target",),
            "Checkpoint syncs of local agents.",
            _SYNC_BUCKETS,
        ),
        Metric("trainctl_job_heartbeat_age_seconds", "gauge", ("job_id",), "Seconds since each running job's agent reported."),
        Metric("trainctl_job_metric", "gauge", ("job_id", "name"), "Newest value a running job's script reported."),
        Metric("trainctl_build_info", "gauge", ("version", "engine_version"), "trainctl's version and its engine's; always 1."),
    )
}


@dataclass
class Folded:
    """Totals: counter values and histogram states ``[count per bucket..., count above, sum]`` per label set."""

    counters: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)
    histograms: dict[tuple[str, tuple[str, ...]], list[float]] = field(default_factory=dict)

    def add(self, event: Mapping[str, object]) -> None:
        """Fold one event; events of unknown metrics or label sets are ignored (a newer or older trainctl's)."""
        metric = METRICS.get(str(event.get("m")))
        labels = event.get("l")
        value = event.get("v")
        if metric is None or not isinstance(labels, list) or len(labels) != len(metric.labels):
            return
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        key = (metric.name, tuple(str(v) for v in labels))
        if metric.kind == "counter":
            self.counters[key] = self.counters.get(key, 0.0) + float(value)
        elif metric.kind == "histogram":
            state = self.histograms.setdefault(key, [0.0] * (len(metric.buckets) + 2))
            state[_bucket_index(metric.buckets, float(value))] += 1
            state[-1] += float(value)

    def merge(self, other: Folded) -> None:
        for key, value in other.counters.items():
            self.counters[key] = self.counters.get(key, 0.0) + value
        for key, state in other.histograms.items():
            mine = self.histograms.setdefault(key, [0.0] * len(state))
            if len(mine) == len(state):
                for i, v in enumerate(state):
                    mine[i] += v

    def to_document(self, folded_segments: list[str]) -> dict[str, object]:
        return {
            "version": SNAPSHOT_VERSION,
            "folded": folded_segments,
            "counters": [[name, list(labels), value] for (name, labels), value in sorted(self.counters.items())],
            "histograms": [[name, list(labels), state] for (name, labels), state in sorted(self.histograms.items())],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, object]) -> Folded:
        folded = cls()
        for row in _rows(document.get("counters")):
            name, labels, value = row
            if isinstance(value, int | float):
                folded.counters[(str(name), _labels(labels))] = float(value)
        for row in _rows(document.get("histograms")):
            name, labels, state = row
            metric = METRICS.get(str(name))
            if metric is not None and isinstance(state, list) and len(state) == len(metric.buckets) + 2:
                folded.histograms[(str(name), _labels(labels))] = [float(v) for v in state]
        return folded


class _Run:
    home: Path | None = None  # where this process journals (None: nowhere, and nothing is kept)
    folded = Folded()  # the process's own events, for the push at exit (bounded by label sets)
    job_id: str | None = None
    warned = False


def activate(home: Path) -> None:
    """Journal this process's events under ``home`` (the CLI at start, a local agent in its job's home).

    Until then (an agent on an instance) recording does nothing."""
    _Run.home = home
    _Run.folded = Folded()
    _Run.job_id = None


def deactivate() -> None:
    """Stop recording."""
    _Run.home = None


def record(name: str, value: float = 1.0, *, job_id: str | None = None, **labels: str) -> None:
    """Add ``value`` to counter ``name``, or observe it in histogram ``name``, with ``labels`` (all of them).

    ``job_id`` is not a label: it tells which job this process worked on (the Pushgateway groups by it).
    """
    metric = METRICS[name]
    if metric.kind == "gauge" or set(labels) != set(metric.labels):
        raise ValueError(f"{name} is a {metric.kind} with labels {metric.labels}, not recorded with {sorted(labels)}")
    if _Run.home is None:
        return
    event: dict[str, object] = {"m": name, "l": [str(labels[k]) for k in metric.labels], "v": value, "t": round(time.time(), 3)}
    _Run.folded.add(event)
    if job_id:
        _Run.job_id = job_id
    _append(_Run.home, event)


def failure_reason(reason: str | None) -> str:
    """The bounded ``reason`` label of a failed job, from the free-text reason in its record."""
    text = (reason or "").strip()
    for prefix, label in _FAILURE_REASONS:
        if text.startswith(prefix):
            return label
    return "other"


_FAILURE_REASONS = (
    ("exit ", "exit_code"),
    ("setup failed", "setup"),
    ("max_runtime", "max_runtime"),
    ("budget", "budget"),
    ("preempted", "preemptions"),
    ("agent died", "agent_lost"),
    ("the agent wrote no status", "agent_lost"),
    ("no status", "agent_lost"),
)


def run_totals() -> Folded:
    """What this process recorded, folded (for the push at exit)."""
    return _Run.folded


def run_job_id() -> str | None:
    """The job this process recorded events about, if any."""
    return _Run.job_id


def read(home: Path) -> Folded:
    """Every event ever recorded under ``home``, folded (snapshot, pending segments, journal)."""
    return Reader(home).read()


class Reader:
    """Reads the journal again and again (a server scraping it): only lines appended since the last read are
    folded, unless a compaction replaced the snapshot or the journal since, which means a full read."""

    def __init__(self, home: Path) -> None:
        self.directory = home / DIR_NAME
        self._state: tuple[object, ...] | None = None  # snapshot, segments and journal file the totals are of
        self._offset = 0  # bytes of the journal folded so far (whole lines)
        self._folded = Folded()

    def read(self) -> Folded:
        """The totals now (the same object, updated, on every call)."""
        if not self.directory.is_dir():
            return Folded()
        with _locked(self.directory / LOCK, fcntl.LOCK_SH):
            journal = _identity(self.directory / JOURNAL)
            segments = tuple(p.name for p in _segments(self.directory, exclude=set()))
            state = (_identity(self.directory / SNAPSHOT), segments, journal[0])
            if state != self._state or journal[2] < self._offset:
                self._full_read()
                self._state = state
            self._offset += _fold_file(self.directory / JOURNAL, self._folded, start=self._offset)
        return self._folded

    def _full_read(self) -> None:
        snapshot, done = _load_snapshot(self.directory)
        for segment in _segments(self.directory, exclude=done):
            _fold_file(segment, snapshot)
        self._folded, self._offset = snapshot, 0


def compact(home: Path) -> bool:
    """Fold the journal into the snapshot; False when another process is compacting (it does the work)."""
    directory = home / DIR_NAME
    if not directory.is_dir():
        return False
    try:
        with _locked(directory / LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB):
            _compact_locked(directory)
    except BlockingIOError:
        return False
    return True


def disk_bytes(home: Path) -> int:
    """What the metrics store takes on disk."""
    directory = home / DIR_NAME
    if not directory.is_dir():
        return 0
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


# -- writing ---------------------------------------------------------------------------------------
def _append(home: Path, event: Mapping[str, object]) -> None:
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    directory = home / DIR_NAME
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        size = _write_line(directory / JOURNAL, line)
        if size > COMPACT_BYTES:
            compact(home)
    except OSError as e:
        if not _Run.warned:
            _Run.warned = True
            print(f"warning: metrics journal {directory}: {e}; this command's metrics are not recorded", file=sys.stderr)


def _write_line(path: Path, line: bytes) -> int:
    """Append ``line`` to the journal at ``path`` (the one there now, not one compaction renamed); its new size."""
    for _ in range(10):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                current = path.stat().st_ino
            except FileNotFoundError:
                current = -1
            if current != os.fstat(fd).st_ino:
                continue  # renamed into a segment while we opened it: write to the new journal
            os.write(fd, line)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    raise OSError(f"the journal {path} kept moving")


# -- compaction ------------------------------------------------------------------------------------
def _compact_locked(directory: Path) -> None:
    journal = directory / JOURNAL
    if journal.exists():
        segment = directory / f"{SEGMENT_PREFIX}{time.time_ns()}-{os.getpid()}.jsonl"
        journal.rename(segment)
        with _locked(segment, fcntl.LOCK_EX):
            pass  # writers that opened it before the rename have finished their line
    snapshot, done = _load_snapshot(directory)
    pending = _segments(directory, exclude=done)
    for segment in pending:
        _fold_file(segment, snapshot)
    document = snapshot.to_document([p.name for p in pending])
    tmp = directory / f".{SNAPSHOT}.{os.getpid()}"
    tmp.write_text(json.dumps(document, separators=(",", ":")))
    tmp.replace(directory / SNAPSHOT)
    for name in {*done, *(p.name for p in pending)}:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()


def _load_snapshot(directory: Path) -> tuple[Folded, set[str]]:
    try:
        document = json.loads((directory / SNAPSHOT).read_text())
    except (FileNotFoundError, ValueError):
        return Folded(), set()
    if not isinstance(document, dict) or document.get("version") != SNAPSHOT_VERSION:
        return Folded(), set()
    done = document.get("folded")
    return Folded.from_document(document), {str(n) for n in done} if isinstance(done, list) else set()


def _segments(directory: Path, *, exclude: set[str]) -> list[Path]:
    return sorted(p for p in directory.glob(f"{SEGMENT_PREFIX}*.jsonl") if p.name not in exclude)


def _fold_file(path: Path, into: Folded, *, start: int = 0) -> int:
    """Fold the whole lines of ``path`` from byte ``start`` on; how many bytes that was."""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return 0
    end = data.rfind(b"\n") + 1  # a last line without its newline is still being written: next time
    for raw in data[:end].split(b"\n")[:-1]:
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict):
            into.add(event)
    return end


def _identity(path: Path) -> tuple[int, int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (info.st_ino, info.st_mtime_ns, info.st_size)


@contextlib.contextmanager
def _locked(path: Path, operation: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)


def _rows(value: object) -> Iterable[list[object]]:
    if not isinstance(value, list):
        return []
    return [row for row in value if isinstance(row, list) and len(row) == 3 and isinstance(row[1], list)]


def _labels(values: object) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


def _bucket_index(buckets: tuple[float, ...], value: float) -> int:
    for i, bound in enumerate(buckets):
        if value <= bound:
            return i
    return len(buckets)
