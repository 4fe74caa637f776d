"""Drive the real `trainctl` console script the way a user does (lifecycle and reliability tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.testing import json_contract, trainer

if TYPE_CHECKING:
    from orchestrator.jobs.index import Ledger


def trainctl_cmd() -> list[str]:
    """The console script of the running virtualenv."""
    script = Path(sys.executable).parent / "trainctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator"]


class Trainctl:
    """Runs trainctl as a user would, in one TRAINCTL_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "TRAINCTL_HOME": str(home),
            "TRAINCTL_GRACE_PERIOD_S": "3",
            "TRAINCTL_POLL_INTERVAL_S": "0.2",
            "TRAINCTL_LOG_FORMAT": "json",
        }

    def run(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run trainctl to its end; a JSON document it prints is checked against its schema in docs/json/."""
        env = {**self.env, **(env or {})}
        done = subprocess.run([*trainctl_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if json_contract.asks_for_json(args) and done.stdout.strip():
            json_contract.check_document(args, done.stdout, done.returncode)
        return done

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*trainctl_cmd(), *args], env={**self.env, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--output", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def ledger(self) -> Ledger:
        """The job index of this runner's backend (``TRAINCTL_BACKEND_URL`` of its environment, else the home's)."""
        from orchestrator.jobs.index import Ledger
        from orchestrator.settings import load_settings

        return Ledger.of(load_settings(home=self.home, backend_url=self.env.get("TRAINCTL_BACKEND_URL") or None))

    def record(self, job_id: str) -> dict[str, Any]:
        """The job's record as stored in the index."""
        from orchestrator.jobs.layout import record_key

        data = self.ledger().store.read(record_key(job_id))
        assert data is not None, f"no record of {job_id}"
        loaded: dict[str, Any] = json.loads(data)
        return loaded

    def jobs(self) -> list[dict[str, Any]]:
        """Every record of the index, as stored."""
        return self.ledger().documents()


def write_job(
    directory: Path,
    name: str = "lifecycle-test",
    *,
    steps: int = 10,
    step_s: float = 0.1,
    extra: str = "",
    env: dict[str, str] | None = None,
) -> Path:
    """A workdir with the test trainer and a job spec for it; returns the spec path."""
    workdir = directory / name
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(trainer.__file__, workdir / "trainer.py")
    variables = {"STEPS": str(steps), "STEP_SECONDS": str(step_s), **(env or {})}
    env_yaml = "".join(f'  {k}: "{v}"\n' for k, v in variables.items())
    spec = workdir / "job.yaml"
    spec.write_text(
        f"name: {name}\nteam: test-team\nowner: tester@example.com\n"
        f"code:\n  run: {sys.executable} trainer.py\n"
        f"env:\n{env_yaml}"
        f"checkpoints:\n  sync_interval: 1s\n  keep_last: 3\n{extra}"
    )
    return spec


def wait_until(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def only_job(tc: Trainctl) -> dict[str, Any]:
    """The single job of a test's home."""
    jobs = tc.jobs()
    assert len(jobs) == 1, jobs
    return jobs[0]
