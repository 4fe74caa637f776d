"""The metrics journal: many processes append, the exporter folds; compaction keeps it bounded and exact."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.metrics import journal

STARTED = "trainctl_training_jobs_started_total"
SYNC = "trainctl_checkpoint_sync_duration_seconds"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """An activated journal home, deactivated after the test."""
    journal.activate(tmp_path)
    yield tmp_path
    journal.deactivate()


def test_counters_and_histograms_fold_by_label_set(home: Path) -> None:
    """Increments add up per label set; observations land in the right bucket with count and sum."""
    journal.record(STARTED, target="local", team="a")
    journal.record(STARTED, target="local", team="a")
    journal.record(STARTED, target="aws", team="b")
    journal.record(SYNC, 0.02, target="local")
    journal.record(SYNC, 400.0, target="local")
    folded = journal.read(home)
    assert folded.counters == {(STARTED, ("local", "a")): 2.0, (STARTED, ("aws", "b")): 1.0}
    state = folded.histograms[(SYNC, ("local",))]
    buckets = journal.METRICS[SYNC].buckets
    assert state[buckets.index(0.05)] == 1  # 0.02 <= 0.05
    assert state[len(buckets)] == 1  # 400 is above the largest bucket
    assert state[-1] == pytest.approx(400.02)
    assert journal.run_totals().counters[(STARTED, ("local", "a"))] == 2.0  # this process's own, for the push


def test_wrong_labels_are_a_programming_error(home: Path) -> None:
    """Recording with missing or unknown labels, or a gauge, raises: the label sets are a contract."""
    with pytest.raises(ValueError, match="labels"):
        journal.record(STARTED, target="local")
    with pytest.raises(ValueError, match="gauge"):
        journal.record("trainctl_jobs", state="running", target="local", team="a")


def test_nothing_is_recorded_without_an_active_home(tmp_path: Path) -> None:
    """A process that activated no home (an agent on an instance) records nothing and writes nothing."""
    journal.deactivate()
    journal.record(STARTED, target="aws", team="a")
    assert not (tmp_path / journal.DIR_NAME).exists()


def test_compaction_keeps_totals_and_bounds_the_disk(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 events with a small compaction threshold: totals exact, journal under the threshold, few files."""
    monkeypatch.setattr(journal, "COMPACT_BYTES", 16 * 1024)
    for i in range(20_000):
        journal.record(STARTED, target="local", team=f"team-{i % 7}")
    folded = journal.read(home)
    assert sum(folded.counters.values()) == 20_000
    assert folded.counters[(STARTED, ("local", "team-0"))] == 2858
    directory = home / journal.DIR_NAME
    assert (directory / journal.JOURNAL).stat().st_size <= 16 * 1024 + 200
    assert sorted(p.name for p in directory.iterdir()) == ["compact.lock", "journal.jsonl", "snapshot.json"]
    assert journal.disk_bytes(home) < 20 * 1024


def test_segments_a_crashed_compaction_left_are_not_counted_twice(home: Path) -> None:
    """A snapshot names the segments it folded: if they were not deleted (a crash), readers skip them."""
    for _ in range(3):
        journal.record(STARTED, target="local", team="a")
    directory = home / journal.DIR_NAME
    journal.compact(home)
    # Simulate a crash between writing the snapshot and deleting the segment: put the segment back.
    snapshot = json.loads((directory / journal.SNAPSHOT).read_text())
    (folded_segment,) = snapshot["folded"]
    (directory / folded_segment).write_text(json.dumps({"m": STARTED, "l": ["local", "a"], "v": 1}) + "\n")
    journal.record(STARTED, target="local", team="a")
    assert journal.read(home).counters[(STARTED, ("local", "a"))] == 4.0
    journal.compact(home)
    assert journal.read(home).counters[(STARTED, ("local", "a"))] == 4.0
    assert not (directory / folded_segment).exists()


def _writer(home: str, team: str, count: int, threshold: int) -> None:
    journal.COMPACT_BYTES = threshold
    journal.activate(Path(home))
    for _ in range(count):
        journal.record(STARTED, target="local", team=team)


def test_concurrent_writers_and_compactions_lose_nothing(tmp_path: Path) -> None:
    """Four processes append 3,000 events each while they compact each other's journal: every event is counted once."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), f"t{i}", 3000, 8 * 1024)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    folded = journal.read(tmp_path)
    assert {labels[1]: value for (_, labels), value in folded.counters.items()} == {f"t{i}": 3000.0 for i in range(4)}


def test_unknown_and_torn_lines_are_ignored(home: Path) -> None:
    """Lines of an unknown metric, with a wrong label count, or torn, do not break the fold."""
    journal.record(STARTED, target="local", team="a")
    with open(home / journal.DIR_NAME / journal.JOURNAL, "a") as handle:
        handle.write('{"m": "trainctl_from_the_future_total", "l": ["x"], "v": 1}\n')
        handle.write('{"m": "' + STARTED + '", "l": ["x"], "v": 1}\n')
        handle.write('not json\n{"m": "' + STARTED + '", "l": ["local", "a"], "v": 1')  # a line still being written
    assert journal.read(home).counters == {(STARTED, ("local", "a")): 1.0}


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("exit 3", "exit_code"),
        ("setup failed", "setup"),
        ("max_runtime", "max_runtime"),
        ("budget", "budget"),
        ("preempted 3 times; restarts.max_preemptions is 2", "preemptions"),
        ("agent died (pid 12 is gone)", "agent_lost"),
        ("the agent wrote no status within 300s", "agent_lost"),
        ("something new", "other"),
        (None, "other"),
    ],
)
def test_failure_reasons_map_to_a_bounded_label(reason: str | None, label: str) -> None:
    """A failed job's free-text reason becomes one of a few label values."""
    assert journal.failure_reason(reason) == label


def test_a_reader_folds_appends_incrementally_and_survives_compaction(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived reader (the server) sees the same totals as a fresh full read, across appends and compactions."""
    monkeypatch.setattr(journal, "COMPACT_BYTES", 4 * 1024)
    reader = journal.Reader(home)
    total = 0
    for batch in (5, 1, 80, 3, 200, 0, 7):
        for _ in range(batch):
            journal.record(STARTED, target="local", team="a")
        total += batch
        assert reader.read().counters.get((STARTED, ("local", "a")), 0.0) == total
        assert journal.read(home).counters.get((STARTED, ("local", "a")), 0.0) == total
    journal.compact(home)
    assert reader.read().counters[(STARTED, ("local", "a"))] == total
