"""Checkpoint sync: copy new checkpoints into the store, keep the newest ``keep_last``, restore the newest.

A checkpoint is any file or directory directly under the checkpoint dir, newest by modification time
(then name). Names starting with '.' or ending in '.tmp'/'.partial' are writes in progress: skipped.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.agent.store import Store

PREFIX = "checkpoints"


def _complete(name: str) -> bool:
    return not name.startswith(".") and not name.endswith((".tmp", ".partial"))


def local_checkpoints(directory: Path) -> list[tuple[str, float]]:
    """(name, mtime) of finished checkpoints in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    entries = [(e.name, e.stat().st_mtime) for e in directory.iterdir() if _complete(e.name)]
    return sorted(entries, key=lambda item: (item[1], item[0]))


def stored_checkpoints(store: Store) -> list[tuple[str, float]]:
    """(name, mtime) of checkpoints in the store, oldest first."""
    return sorted((e for e in store.list_dir(PREFIX) if _complete(e[0])), key=lambda item: (item[1], item[0]))


class CheckpointSync:
    """Remembers what it uploaded, so each sync copies only new or changed checkpoints."""

    def __init__(self, directory: Path, store: Store, keep_last: int) -> None:
        self.directory = directory
        self.store = store
        self.keep_last = keep_last
        self._synced: dict[str, float] = {}

    def sync(self) -> str | None:
        """Upload what is new, prune the store to ``keep_last``; return the newest checkpoint name."""
        local = local_checkpoints(self.directory)
        for name, mtime in local[-self.keep_last :]:
            if self._synced.get(name) != mtime:
                self.store.put_path(self.directory / name, f"{PREFIX}/{name}")
                self._synced[name] = mtime
        stored = stored_checkpoints(self.store)
        order = {name: i for i, (name, _) in enumerate(local)}
        stored.sort(key=lambda item: (order.get(item[0], -1), item[1], item[0]))
        for name, _ in stored[: max(0, len(stored) - self.keep_last)]:
            self.store.delete(f"{PREFIX}/{name}")
            self._synced.pop(name, None)
        return local[-1][0] if local else (stored[-1][0] if stored else None)


def restore_newest(store: Store, directory: Path) -> Path | None:
    """Copy the store's newest checkpoint into ``directory``; return its local path (None if none)."""
    stored = stored_checkpoints(store)
    if not stored:
        return None
    return restore(store, directory, stored[-1][0])


def restore(store: Store, directory: Path, name: str) -> Path:
    """Copy the store's checkpoint ``name`` into ``directory`` (unless there already); return its local path."""
    target = directory / name
    if not target.exists():
        store.get_path(f"{PREFIX}/{name}", target)
    return target
