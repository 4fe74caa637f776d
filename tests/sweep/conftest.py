"""A small valid spec for the sweep tests that need no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC = """name: sweep-cli
team: vision
owner: alice@example.com
code:
  run: python train.py
env:
  LR: "0.1"
limits:
  max_runtime: 1h
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """``job.yaml`` with ``SPEC`` in the test's directory."""
    path = tmp_path / "job.yaml"
    path.write_text(SPEC)
    return path
