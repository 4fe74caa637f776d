"""`trainctl sweep SPEC --param PATH=V1,V2 ...`: one job per grid point, at most N at once, then a ranked summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator.cli.output import emit, notice, output_option, say
from orchestrator.cli.render import table

if TYPE_CHECKING:
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.sweep.grid import Grid
    from orchestrator.sweep.summary import Objective


@click.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--param",
    "params",
    multiple=True,
    required=True,
    metavar="PATH=V1,V2",
    help="A spec field and its values (env.NAME, resources.instance_type, limits.max_runtime, ...); repeat for a grid.",
)
@click.option("--max-parallel", "-j", type=click.IntRange(1, 64), default=1, show_default=True, help="Jobs running at once.")
@click.option("--objective", default=None, metavar="NAME:min|max", help="Rank the summary by this script metric.")
@click.option("--detach", "-d", is_flag=True, help="Return at once; a background process runs the sweep.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (cloud targets ask on a terminal).")
@click.option("--target", type=click.Choice(["local", "aws"]), default=None, help="Override the spec's target.")
@click.option("--policy-config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="A team's policy config.")
@output_option
def command(
    spec: str,
    params: tuple[str, ...],
    max_parallel: int,
    objective: str | None,
    detach: bool,
    yes: bool,
    target: str | None,
    policy_config: Path | None,
    output: str,
) -> None:
    """Run one job of SPEC per point of the --param grid; running it again resumes it (finished points are kept)."""
    import sys

    from orchestrator.lifecycle.context import Runtime
    from orchestrator.spec.loader import load_spec
    from orchestrator.sweep.budget import check_budget
    from orchestrator.sweep.grid import build_grid
    from orchestrator.sweep.summary import parse_objective

    goal = parse_objective(objective) if objective else None
    loaded = load_spec(spec)
    if target:
        loaded = loaded.with_target(target)
    grid = build_grid(loaded, params)
    for line in sorted({n for p in grid.points for n in p.loaded.notices}):
        notice(line)
    rt = Runtime()
    budget = check_budget(grid, rt.settings, policy_config=policy_config, warn=notice)
    click.echo(f"sweep {grid.sweep_id}: {len(grid.points)} jobs, at most {max_parallel} at once; {budget.describe()}", err=True)
    if loaded.spec.target != "local" and not yes and sys.stdin.isatty():
        click.confirm(f"Allocate cloud resources for {len(grid.points)} jobs on {loaded.spec.target}?", abort=True, err=True)
    head: dict[str, Any] = {"sweep_id": grid.sweep_id, "points": len(grid.points), "max_parallel": max_parallel,
                            "objective": goal.to_dict() if goal else None, "worst_case": budget.to_dict()}  # fmt: skip
    if detach:
        from orchestrator.sweep.control import spawn_runner

        options = {"max-parallel": str(max_parallel), "objective": objective, "target": target, "policy-config": policy_config}
        log = spawn_runner(rt, grid.sweep_id, Path(spec), params, options)
        emit({**head, "outcome": "started", "log": str(log)}, lambda: _started(grid.sweep_id, log))
        return
    _run(rt, grid, head, goal, max_parallel, policy_config)


def _run(
    rt: Runtime, grid: Grid, head: dict[str, Any], goal: Objective | None, max_parallel: int, policy_config: Path | None
) -> None:
    from orchestrator.sweep.run import run_sweep
    from orchestrator.sweep.summary import sweep_rows, unsuccessful

    run_sweep(rt, grid, max_parallel=max_parallel, say=lambda line: click.echo(line, err=True), policy_config=policy_config)
    rows = sweep_rows(rt, grid, goal)
    emit({**head, "outcome": "finished", "jobs": rows}, lambda: _summary(rows, goal))
    failure = unsuccessful(grid, rows)
    if failure is not None:
        raise failure  # exit 6, after the summary


def _started(sweep_id: str, log: Path) -> None:
    say(f"sweep {sweep_id} is running in the background (log: {log})")
    say(f"`trainctl ls --sweep {sweep_id}` follows it; running the same sweep again prints its summary once it is done")


def _summary(rows: list[dict[str, Any]], goal: Objective | None) -> None:
    """The summary table: parameters, job, state, runtime, cost and metrics (the objective's first)."""
    params = list(rows[0]["params"]) if rows else []
    names = sorted({m for r in rows for m in r["metrics"]})
    if goal is not None and goal.metric in names:
        names = [goal.metric] + [n for n in names if n != goal.metric]
    flat = [{**r, **{f"p:{k}": v for k, v in r["params"].items()}, **{f"m:{k}": _number(v) for k, v in r["metrics"].items()}}
            for r in rows]  # fmt: skip
    columns = (
        ("#", "point"),
        *((p, f"p:{p}") for p in params),
        ("JOB", "job_id"),
        ("STATE", "state"),
        ("RUNTIME", "runtime_s"),
        ("COST $", "cost_usd"),
        *((n.upper(), f"m:{n}") for n in names),
    )
    table(flat, columns)


def _number(value: float) -> str:
    return f"{value:.6g}"
