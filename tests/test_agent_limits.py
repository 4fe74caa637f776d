"""The job's limits (max_runtime, max_cost_usd) hold across runs: a relaunched run gets only what is left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.store import LocalStore
from orchestrator.agent.supervisor import Supervisor


def _config(tmp_path: Path, **overrides: Any) -> AgentConfig:
    workdir = tmp_path / "work"
    workdir.mkdir()
    values: dict[str, Any] = {
        "job_id": "limits-abc123",
        "workdir": str(workdir),
        "run": "touch ran && sleep 30",
        "store_url": str(tmp_path / "store"),
        "heartbeat_s": 0.1,
        "grace_period_s": 1.0,
        **overrides,
    }
    return AgentConfig(**values)


@pytest.mark.parametrize(
    ("overrides", "expected_s", "reason"),
    [
        ({"max_runtime_s": 3600.0}, 3600.0, "max_runtime"),
        ({"max_runtime_s": 3600.0, "prior_runtime_s": 3000.0}, 600.0, "max_runtime"),
        ({"max_cost_usd": 10.0, "hourly_usd": 36.0}, 1000.0, "budget"),
        ({"max_cost_usd": 10.0, "hourly_usd": 36.0, "prior_cost_usd": 9.0}, 100.0, "budget"),
        ({"max_runtime_s": 3600.0, "prior_runtime_s": 4000.0}, 0.0, "max_runtime"),
    ],
)
def test_deadline_takes_off_what_earlier_runs_used(overrides: dict[str, Any], expected_s: float, reason: str) -> None:
    """The run's deadline is what max_runtime and the budget leave after earlier runs, with the limit that decides it."""
    config = AgentConfig(job_id="j", workdir="/w", run="true", store_url="/s", **overrides)
    assert config.deadline(1000.0) == (1000.0 + expected_s, reason)


def test_a_run_whose_budget_earlier_runs_used_up_starts_nothing(tmp_path: Path) -> None:
    """Relaunched with the budget already spent: no setup, no run, status failed with reason budget."""
    config = _config(tmp_path, setup="touch set-up", max_cost_usd=5.0, hourly_usd=3600.0, prior_cost_usd=5.2)
    code = Supervisor(config, LocalStore(tmp_path / "store")).run()
    assert code != 0
    workdir = Path(config.workdir)
    assert not (workdir / "ran").exists() and not (workdir / "set-up").exists()
    status = json.loads((tmp_path / "store" / "status.json").read_text())
    assert status["state"] == "failed" and status["reason"] == "budget"
    assert "already used up by earlier runs" in (tmp_path / "store" / "logs" / "output.log").read_text()


def test_a_relaunched_run_stops_when_the_rest_of_the_budget_is_spent(tmp_path: Path) -> None:
    """$3600/h with $4 of a $5 budget spent: the run is stopped after about 1 s, reason budget."""
    config = _config(tmp_path, max_cost_usd=5.0, hourly_usd=3600.0, prior_cost_usd=4.0)
    supervisor = Supervisor(config, LocalStore(tmp_path / "store"))
    supervisor.run()
    status = json.loads((tmp_path / "store" / "status.json").read_text())
    assert status["state"] == "failed" and status["reason"] == "budget"
    assert 0.8 <= status["ended_at"] - supervisor.started_at < 5.0
