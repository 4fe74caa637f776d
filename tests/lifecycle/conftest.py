"""Lifecycle tests drive the real `trainctl` console script against the real engine (file backend).

They use the ``tc`` fixture, which marks them ``engine`` (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def generous_caps(tmp_path: Path) -> str:
    """A team policy config whose cost caps let the tests' deliberately expensive local prices through."""
    path = tmp_path / "caps.yaml"
    path.write_text("max-hourly-cost: {maxUsd: 100000}\nmax-job-cost: {maxUsd: 100000}\n")
    return str(path)
