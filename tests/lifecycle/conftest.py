"""Lifecycle tests drive the real `trainctl` console script against the real engine (file backend)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.engine
