"""tests/deps/jaeger.sh and the harness around its result, without building anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.testing.jaeger import JAEGER_VERSION, jaeger_binary

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "deps" / "jaeger.sh"


def _run(cache: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PATH": path}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=60)


def test_a_built_jaeger_is_not_built_again(tmp_path: Path) -> None:
    """With the binary and its marker in the cache the script only says so (no Go needed)."""
    dest = tmp_path / "trainctl" / "jaeger" / JAEGER_VERSION
    dest.mkdir(parents=True)
    (dest / "jaeger").write_text("#!/bin/sh\n")
    (dest / "jaeger").chmod(0o755)
    (dest / "installed.json").write_text("{}")
    result = _run(tmp_path, "/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert "already built" in result.stdout


def test_without_go_the_script_fails_saying_why(tmp_path: Path) -> None:
    """Nothing cached and no Go toolchain: a non-zero exit naming the missing toolchain."""
    result = _run(tmp_path, "/usr/bin:/bin")
    assert result.returncode != 0
    assert "Go toolchain" in result.stderr
    assert not (tmp_path / "trainctl" / "jaeger" / JAEGER_VERSION).exists()


def test_wrapper_module_pins_the_version_the_script_and_harness_name() -> None:
    """go.mod requires the Jaeger release jaeger.sh and orchestrator/testing/jaeger.py name, with its replace repeated."""
    gomod = (REPO / "tests" / "deps" / "jaeger" / "go.mod").read_text()
    assert f"github.com/jaegertracing/jaeger v{JAEGER_VERSION}" in gomod
    assert "tool github.com/jaegertracing/jaeger/cmd/jaeger" in gomod
    assert "replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0" in gomod
    assert f"JAEGER_VERSION={JAEGER_VERSION}" in SCRIPT.read_text()


def test_missing_binary_names_the_install_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's error for a missing jaeger tells how to build it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"tests/deps/jaeger\.sh"):
        jaeger_binary()
