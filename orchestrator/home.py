"""Where trainctl keeps its state and its engine cache: importable without pydantic (agents and providers use it)."""

from __future__ import annotations

import os
from pathlib import Path


def trainctl_home() -> Path:
    """``$TRAINCTL_HOME``, default ``~/.trainctl``."""
    return Path(os.environ.get("TRAINCTL_HOME") or Path.home() / ".trainctl").expanduser()


def engine_cache_dir() -> Path:
    """The per-user engine cache: ``$XDG_CACHE_HOME/trainctl/engine``, default ``~/.cache/trainctl/engine``.

    It lies outside the trainctl home on purpose: a fresh home (CI, a second project, a test) finds the
    engine already built.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or ""
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "trainctl" / "engine"


def legacy_engine_dirs(home: Path) -> tuple[Path, ...]:
    """Where trainctl cached engines before they moved to the user cache: inside the trainctl home."""
    return tuple(dict.fromkeys((home / "engine", Path.home() / ".trainctl" / "engine")))
