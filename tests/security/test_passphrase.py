"""The state passphrase file: created atomically under concurrency, never used empty, checked by doctor."""

from __future__ import annotations

import json
import multiprocessing
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.passphrase import ensure_passphrase_file
from orchestrator.errors import SettingsError

FIRST_USES = 300


def _first_use(path: Path, start: Any, results: Any) -> None:
    """One process's first use: wait for all, then create-or-read the passphrase and report what it read.

    Generating the passphrase is made slow (as on a starved machine) so that the window between
    creating the file and filling it, if there is one, is wide open.
    """
    fast = secrets.token_urlsafe

    def slow_token(nbytes: int) -> str:
        time.sleep(0.05)
        return fast(nbytes)

    secrets.token_urlsafe = slow_token  # this forked process only
    start.wait()
    try:
        results.put(("read", ensure_passphrase_file(path).read_text()))
    except Exception as e:  # noqa: BLE001 - every failure is counted, none may happen
        results.put(("failed", repr(e)))


def test_concurrent_first_uses_all_see_one_nonempty_passphrase(tmp_path: Path) -> None:
    """300 processes creating the passphrase at once: no failure, no empty read, one passphrase for all."""
    path = tmp_path / "home" / "passphrase"
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(FIRST_USES), context.Queue()
    processes = [context.Process(target=_first_use, args=(path, start, results)) for _ in range(FIRST_USES)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join()
    failures = [detail for kind, detail in outcomes if kind == "failed"]
    read = [detail for kind, detail in outcomes if kind == "read"]
    empty_reads = [r for r in read if not r.strip()]
    assert (len(failures), len(empty_reads)) == (0, 0), failures[:3]
    assert len(set(read)) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["passphrase"]  # no temporary file left behind


def test_empty_passphrase_file_is_refused_naming_it(tmp_path: Path) -> None:
    """An empty passphrase file (left by a crash or an older trainctl) is an error naming the file, never used."""
    path = tmp_path / "passphrase"
    path.write_text("")
    with pytest.raises(SettingsError, match=f"passphrase file {path} is empty"):
        ensure_passphrase_file(path)


def test_empty_user_passphrase_file_is_refused(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PULUMI_CONFIG_PASSPHRASE_FILE that is empty stops any engine command with exit 2 naming it."""
    from orchestrator.engine.environment import engine_env
    from orchestrator.engine.locate import Engine
    from orchestrator.settings import get_settings

    empty = tmp_path / "team-passphrase"
    empty.write_text("\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(empty))
    engine = Engine(root=tmp_path / "engine", version="3", source="test")
    with pytest.raises(SettingsError, match=f"passphrase file {empty} is empty"):
        engine_env(get_settings(), engine)


def doctor_passphrase(cli) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The passphrase line of `trainctl doctor --output json` (one document: the checks; a failed check adds no second one)."""
    checks = json.loads(cli("doctor", "--output", "json").stdout)["checks"]
    return next(c for c in checks if c["name"] == "passphrase")


@pytest.mark.parametrize(
    ("content", "mode", "problem"),
    [("", 0o600, "is empty"), ("s3cret-passphrase", 0o644, "readable or writable by others (mode 0644)"), ("x", 0o640, "0640")],
)
def test_doctor_fails_an_empty_or_shared_passphrase(cli, trainctl_home: Path, content: str, mode: int, problem: str) -> None:
    """doctor reports an empty, world- or group-readable passphrase file as a failed required check (exit 2)."""
    path = trainctl_home / "passphrase"
    path.write_text(content)
    path.chmod(mode)
    check = doctor_passphrase(cli)
    assert check["ok"] is False and check["required"] is True
    assert problem in str(check["detail"])
    assert cli("doctor").exit_code == 2


def test_doctor_accepts_a_private_passphrase(cli, trainctl_home: Path) -> None:
    """A non-empty 0600 passphrase file is ok, and doctor never prints its value."""
    path = trainctl_home / "passphrase"
    path.write_text("s3cret-passphrase")
    path.chmod(0o600)
    check = doctor_passphrase(cli)
    assert check["ok"] is True
    assert "s3cret" not in json.dumps(check)
