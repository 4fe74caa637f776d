"""Where trainctl keeps its state and its engine cache, and how it keeps them private (no pydantic: agents use it).

Everything trainctl and the processes it starts create under ``$TRAINCTL_HOME`` (state, job records,
logs, checkpoints, snapshots, locks, the passphrase) is private to the user: directories 0700, files
0600. The trainctl command, the agent and their children run with ``PRIVATE_UMASK`` added to the
umask, so files written by the engine and by the training run are private too; ``private_home``
also tightens a home that an older trainctl created open to others.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


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


def restrict_umask() -> int:
    """Add ``PRIVATE_UMASK`` to this process's umask (inherited by its children); return the previous one."""
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)
    return previous


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700 (missing parents are created 0700 too)."""
    if not path.parent.exists():
        private_dir(path.parent)
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def private_home(home: Path) -> Path:
    """The trainctl home, created 0700, or tightened to 0700 when it is the user's and open to others."""
    private_dir(home)
    info = home.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & PRIVATE_UMASK:
        home.chmod(0o700)
    return home
