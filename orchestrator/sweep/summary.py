"""A sweep's summary: each point's job with its parameters, state, runtime, cost and newest script metrics,
best first by an objective (``--objective loss:min``); points without that metric follow in grid order."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import InvalidInputError, RunFailedError
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.query import current, script_metrics
from orchestrator.sweep.grid import Grid

GOALS = ("min", "max")


@dataclass(frozen=True)
class Objective:
    """The script metric (``TRAINCTL_METRICS_FILE``) that ranks the points, and whether lower or higher is better."""

    metric: str
    goal: str

    def to_dict(self) -> dict[str, str]:
        return {"metric": self.metric, "goal": self.goal}


def parse_objective(text: str) -> Objective:
    """``NAME:min`` or ``NAME:max``; InvalidInputError (exit 2) naming the option otherwise."""
    metric, sep, goal = text.rpartition(":")
    if not sep or not metric or goal not in GOALS:
        raise InvalidInputError(f"--objective {text!r}: expected NAME:min or NAME:max", hint="for example --objective loss:min")
    return Objective(metric, goal)


def sweep_rows(rt: Runtime, grid: Grid, objective: Objective | None) -> list[dict[str, Any]]:
    """One row per point (its newest job, if it has one), ranked by ``objective``."""
    from orchestrator.sweep.run import point_jobs

    jobs = point_jobs(rt, grid.sweep_id)
    now = time.time()
    rows = []
    for point in grid.points:
        record = jobs.get(point.key)
        metrics = script_metrics(rt, record.job_id) if record else {}
        rows.append(_row(point.index, point.params, current(rt, record) if record else None, metrics, now))
    return rank(rows, objective)


def unsuccessful(grid: Grid, rows: list[dict[str, Any]]) -> RunFailedError | None:
    """The error a sweep ends with (exit 6) when a point did not succeed, counting each state; None when all did."""
    failed = [r["state"] for r in rows if r["state"] != "succeeded"]
    if not failed:
        return None
    counts = ", ".join(f"{state}: {failed.count(state)}" for state in sorted(set(failed)))
    return RunFailedError(
        f"{len(failed)} of {len(rows)} points of sweep {grid.sweep_id} did not succeed ({counts})",
        context={"sweep_id": grid.sweep_id},
        hint=f"`trainctl ls --sweep {grid.sweep_id}` lists its jobs; the same sweep again reruns the points not finished",
    )


def rank(rows: list[dict[str, Any]], objective: Objective | None) -> list[dict[str, Any]]:
    """``rows`` best first by the objective's metric; rows without it keep their order, after the others."""
    if objective is None:
        return rows
    scored = [r for r in rows if isinstance(r["metrics"].get(objective.metric), int | float)]
    rest = [r for r in rows if r not in scored]
    scored.sort(key=lambda r: float(r["metrics"][objective.metric]), reverse=objective.goal == "max")
    return scored + rest


def _row(index: int, params: dict[str, str], record: JobRecord | None, metrics: dict[str, float], now: float) -> dict[str, Any]:
    if record is None:
        return {"point": index + 1, "params": params, "job_id": None, "state": "not started", "runtime_s": None,
                "cost_usd": None, "metrics": {}}  # fmt: skip
    summary = record.summary(now)
    return {
        "point": index + 1,
        "params": params,
        "job_id": record.job_id,
        "state": summary["state"],
        "runtime_s": summary["runtime_s"],
        "cost_usd": summary["cost_usd"],
        "metrics": metrics,
    }
