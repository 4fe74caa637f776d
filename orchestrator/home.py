"""Where trainctl keeps its state: one function, importable without pydantic (agents and providers use it)."""

from __future__ import annotations

import os
from pathlib import Path


def trainctl_home() -> Path:
    """``$TRAINCTL_HOME``, default ``~/.trainctl``."""
    return Path(os.environ.get("TRAINCTL_HOME") or Path.home() / ".trainctl").expanduser()
