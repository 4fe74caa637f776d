"""Shared fixtures: every test runs with its own TRAINCTL_HOME; the engine cache is shared."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator import home as homes
from orchestrator.engine.locate import installed_engine
from orchestrator.settings import Settings, get_settings
from orchestrator.testing import json_contract
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.harness import Trainctl, trainctl_cmd, write_job
from orchestrator.testing.moto_server import MotoServer

__all__ = ["trainctl_cmd"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _shared_engines() -> Path:
    """TRAINCTL_ENGINE_DIR, else the per-user cache, else an old default holding the engine (not yet moved)."""
    if os.environ.get("TRAINCTL_ENGINE_DIR"):
        return Path(os.environ["TRAINCTL_ENGINE_DIR"])
    candidates = (homes.engine_cache_dir(), *homes.legacy_engine_dirs(homes.trainctl_home()))
    return next((d for d in candidates if installed_engine(d) is not None), homes.engine_cache_dir())


# Fixtures that drive the real Pulumi engine (or moto): a test using one gets the marker, so that
# `pytest -m "not engine"` (make test-fast) runs without an engine. A `pytestmark` in a conftest
# has no effect; modules and tests that reach the engine another way carry the mark themselves.
MARKER_FIXTURES = {"tc": "engine", "moto_server": "moto"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the fixtures it uses (see MARKER_FIXTURES)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MARKER_FIXTURES.items():
            if fixture in used:
                item.add_marker(marker)


# Resolved once, before any test points TRAINCTL_HOME elsewhere: engines are built once per machine.
SHARED_ENGINES = _shared_engines()


@pytest.fixture(autouse=True)
def trainctl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TRAINCTL_HOME per test; settings are re-read."""
    home = tmp_path / "trainctl-home"
    home.mkdir()
    monkeypatch.setenv("TRAINCTL_HOME", str(home))
    monkeypatch.setenv("TRAINCTL_ENGINE_DIR", str(SHARED_ENGINES))
    for name in (
        "TRAINCTL_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE",
        "PULUMI_CONFIG_PASSPHRASE_FILE",
        "TRAINCTL_LOG_FORMAT",
        # tracing is off unless a test turns it on (orchestrator/tracing)
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "TRACEPARENT",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@dataclass
class CliResult:
    """What a user sees from one trainctl invocation."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run trainctl in-process: ``cli("validate", path)`` -> CliResult. A JSON document it prints is checked
    against its schema in docs/json/ (orchestrator/testing/json_contract.py)."""
    from orchestrator.cli.main import run

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run(list(args))
        out, err = capsys.readouterr()
        if json_contract.asks_for_json(args) and out.strip():
            json_contract.check_document(args, out, code)
        return CliResult(code, out, err)

    return invoke


@pytest.fixture
def settings() -> Settings:
    """The settings in force for this test."""
    return get_settings()


@pytest.fixture
def tc(trainctl_home: Path) -> Trainctl:
    """A trainctl runner (real console script, real engine) bound to this test's home."""
    return Trainctl(trainctl_home)


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., Path]:
    """Write a workdir with the test trainer and a job spec; returns the spec path."""
    return functools.partial(write_job, tmp_path)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the whole session, on 127.0.0.1 and a port the OS chose."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """The fault-injecting proxy in front of the session's moto server."""
    proxy = FaultProxy(moto_server.url, seed=7).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A freshly reset moto; every AWS client of this test talks to it with dummy credentials."""
    from orchestrator.cloud import aws

    moto_server.reset()
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "TRAINCTL_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    aws.clear_clients()
    yield moto_server
    aws.clear_clients()
