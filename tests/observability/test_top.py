"""`trainctl top`: a snapshot without a terminal, a live full-screen view on one; no engine either way."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.testing.harness import trainctl_cmd
from tests.observability.conftest import write_fleet


def test_top_without_a_terminal_prints_one_snapshot(cli: Any, trainctl_home: Path) -> None:
    """Piped: one table with the running job first (cost against budget, heartbeat, checkpoint age, script metrics)."""
    write_fleet(trainctl_home)
    result = cli("top")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "-aaaaaa" in line or "-bbbbbb" in line or "-cccccc" in line]
    assert [line.split()[1] for line in lines] == ["train-aaaaaa", "done-bbbbbb", "oops-cccccc"]
    running = lines[0]
    assert "running" in running and "/ $5.00" in running and "loss=0.25" in running and "step=40" in running
    assert "5s ago" in running or "6s ago" in running  # heartbeat written 5 s before
    assert "30s ago" in running or "31s ago" in running  # newest checkpoint


def test_top_json_is_the_same_snapshot(cli: Any, trainctl_home: Path) -> None:
    """`top --output json`: one document with each job's facts."""
    write_fleet(trainctl_home)
    result = cli("top", "--output", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["jobs"]
    assert [r["job_id"] for r in rows] == ["train-aaaaaa", "done-bbbbbb", "oops-cccccc"]
    running = rows[0]
    assert running["budget_usd"] == 5 and running["metrics"] == {"loss": 0.25, "step": 40.0}
    assert 4 <= running["heartbeat_age_s"] < 60 and 29 <= running["checkpoint_age_s"] < 90
    assert rows[1]["heartbeat_age_s"] is None and rows[1]["cost_usd"] == 2.0


def test_top_starts_no_engine_and_loads_no_pulumi(trainctl_home: Path, tmp_path: Path) -> None:
    """With no engine installed at all top still works, and pulumi is never imported."""
    write_fleet(trainctl_home)
    empty = tmp_path / "no-engines"
    empty.mkdir()
    probe = (
        "import sys\nfrom orchestrator.cli.main import run\n"
        "code = run(['top'])\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'pulumi', 'boto3'}), code, file=sys.stderr)\n"
    )
    env = {**os.environ, "TRAINCTL_HOME": str(trainctl_home), "TRAINCTL_ENGINE_DIR": str(empty), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert "LOADED [] 0" in result.stderr, result.stderr
    assert "train-aaaaaa" in result.stdout


def _read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not shown; screen so far: {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize(("key", "how"), [(b"q", "q"), (b"\x03", "Ctrl-C")])
def test_top_on_a_terminal_is_live_and_quits_cleanly(trainctl_home: Path, key: bytes, how: str) -> None:
    """On a terminal (a pty): the alternate screen with the jobs, redrawn; q or Ctrl-C quits with 0 and restores the screen."""
    write_fleet(trainctl_home)
    env = {**os.environ, "TRAINCTL_HOME": str(trainctl_home), "TERM": "xterm", "COLUMNS": "160", "LINES": "30"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: trainctl top on the pty as its controlling terminal
        os.execvpe(trainctl_cmd()[0], [*trainctl_cmd(), "top"], env)  # noqa: S606 - our own console script, argv we built
    try:
        screen = _read_until(fd, b"train-aaaaaa")
        assert b"\x1b[?1049h" in screen  # the alternate screen
        screen = _read_until(fd, b"(q quits)", timeout=10) + _read_until(fd, b"train-aaaaaa", timeout=10)  # redrawn
        os.write(fd, key)
        rest = _read_until(fd, b"\x1b[?1049l", timeout=30)  # the normal screen again
        assert b"Traceback" not in rest
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (how, status)
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
