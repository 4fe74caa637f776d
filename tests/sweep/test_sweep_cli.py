"""`sweep`, `ls --sweep`, `cost --by sweep`, `cancel/down --sweep` without the engine: input errors, the cost
gate before anything starts, and the views over a sweep's job records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord, SweepMember
from orchestrator.sweep.summary import Objective, parse_objective, rank


def _nothing_started(home: Path) -> bool:
    return not Ledger.for_home(home).listing()


def test_worst_case_above_the_sweep_cap_is_exit_3_before_anything(cli, spec: Path, tmp_path: Path, trainctl_home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """6 jobs at 2 USD/hour for at most 1h are 12 USD: a sweep cap of 10 refuses it (exit 3) and no job is recorded."""
    from orchestrator.settings import get_settings

    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "2")
    get_settings.cache_clear()
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"max-job-cost": {"maxSweepUsd": 10}}))
    result = cli("sweep", str(spec), "--param", "env.LR=1,2,3,4,5,6", "--policy-config", str(config), "-o", "json")
    assert result.exit_code == 3, result.stderr
    error = json.loads(result.stdout)
    assert error["violations"][0]["policy"] == "max-job-cost"
    assert "12.00 USD" in error["violations"][0]["message"] and "10.00 USD" in error["violations"][0]["message"]
    assert "worst-case" in result.stderr or "worst-case" in error["violations"][0]["message"]
    assert _nothing_started(trainctl_home)
    assert not (trainctl_home / "state").exists()  # no stack was ever created


def test_advisory_sweep_cap_only_warns(spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the cap advisory, the same sweep is allowed and the violation becomes a warning."""
    from orchestrator.settings import get_settings
    from orchestrator.spec.loader import load_spec
    from orchestrator.sweep.budget import check_budget
    from orchestrator.sweep.grid import build_grid

    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "2")
    get_settings.cache_clear()
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"max-job-cost": {"maxSweepUsd": 10, "enforcementLevel": "advisory"}}))
    warnings: list[str] = []
    grid = build_grid(load_spec(spec), ["env.LR=1,2,3,4,5,6"])
    budget = check_budget(grid, get_settings(), policy_config=config, warn=warnings.append)
    assert budget.max_usd == pytest.approx(12.0)
    assert len(warnings) == 1 and "max-job-cost" in warnings[0]


def test_worst_case_takes_the_budget_limit_and_unbounded_points(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A point's worst case is lowered to its limits.max_cost_usd; a priced point with no limit makes the sum unbounded."""
    from orchestrator.settings import get_settings
    from orchestrator.spec.loader import load_spec
    from orchestrator.sweep.budget import sweep_budget
    from orchestrator.sweep.grid import build_grid

    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "2")
    get_settings.cache_clear()
    grid = build_grid(load_spec(spec), ["limits.max_cost_usd=0.5,5"])
    budget = sweep_budget(grid, get_settings(), policy_config=None)
    assert [p.max_usd for p in budget.points] == [pytest.approx(0.5), pytest.approx(2.0)]
    unbounded = build_grid(load_spec(spec), ["limits.max_runtime=null,1h"])
    budget = sweep_budget(unbounded, get_settings(), policy_config=None)
    assert budget.max_usd is None
    assert budget.violations("s")[0].message.endswith("above the cap of 2000.00 USD per sweep")


def test_bad_param_and_objective_exit_2(cli, spec: Path, trainctl_home: Path) -> None:
    """A bad --param value or --objective is exit 2 naming it; nothing is recorded."""
    bad = cli("sweep", str(spec), "--param", "resources.disk_gb=4")
    assert bad.exit_code == 2 and "--param resources.disk_gb=4: resources.disk_gb" in bad.stderr
    objective = cli("sweep", str(spec), "--param", "env.LR=1", "--objective", "loss")
    assert objective.exit_code == 2 and "NAME:min or NAME:max" in objective.stderr
    missing = cli("sweep", str(spec))
    assert missing.exit_code == 2 and "--param" in missing.stderr
    assert _nothing_started(trainctl_home)


def test_objective_ranks_rows_best_first() -> None:
    """loss:min puts the lowest loss first, accuracy:max the highest accuracy; rows without it come last in order."""
    rows = [
        {"point": i, "metrics": m} for i, m in enumerate([{"loss": 0.3}, {}, {"loss": 0.1, "accuracy": 0.7}, {"accuracy": 0.9}])
    ]
    assert [r["point"] for r in rank(rows, parse_objective("loss:min"))] == [2, 0, 1, 3]
    assert [r["point"] for r in rank(rows, Objective("accuracy", "max"))] == [3, 2, 0, 1]
    assert [r["point"] for r in rank(rows, None)] == [0, 1, 2, 3]


def _record(job_id: str, sweep: str | None, cost: float, created: float) -> JobRecord:
    member = SweepMember(sweep_id=sweep, params={"env.LR": job_id}) if sweep else None
    return JobRecord(job_id=job_id, name="sweep-cli", team="vision", owner="alice@example.com", target="local",
                     state="succeeded", created=created, started_at=created, ended_at=created + 60, cost_usd=cost,
                     torn_down=True, sweep=member)  # fmt: skip


def test_ls_and_cost_by_sweep(cli, trainctl_home: Path) -> None:
    """ls --sweep lists only that sweep's jobs; cost --by sweep sums each sweep, jobs of no sweep under '-'."""
    ledger = Ledger.for_home(trainctl_home)
    ledger.save(_record("sweep-cli-aaaaaa", "s-one", 1.5, 1_700_000_000))
    ledger.save(_record("sweep-cli-bbbbbb", "s-one", 2.0, 1_700_000_100))
    ledger.save(_record("sweep-cli-cccccc", "s-two", 0.25, 1_700_000_200))
    ledger.save(_record("sweep-cli-dddddd", None, 4.0, 1_700_000_300))
    listed = json.loads(cli("ls", "--sweep", "s-one", "-o", "json").stdout)["jobs"]
    assert [j["job_id"] for j in listed] == ["sweep-cli-bbbbbb", "sweep-cli-aaaaaa"]
    assert {j["sweep_id"] for j in listed} == {"s-one"}
    unknown = cli("ls", "--sweep", "s-nope")
    assert unknown.exit_code == 2 and "no sweep 's-nope'" in unknown.stderr
    report = json.loads(cli("cost", "--by", "sweep", "-o", "json").stdout)
    groups = {g["group"]: (g["cost_usd"], g["jobs"]) for g in report["groups"]}
    assert groups == {"s-one": (3.5, 2), "s-two": (0.25, 1), "-": (4.0, 1)}


def test_cancel_and_down_take_a_job_or_a_sweep(cli, trainctl_home: Path) -> None:
    """Neither or both of JOB and --sweep is exit 2; an unknown sweep is exit 2; a torn-down sweep is reported as is."""
    assert cli("cancel").exit_code == 2
    assert cli("down", "some-job", "--sweep", "s-one").exit_code == 2
    assert cli("cancel", "--sweep", "s-nope").exit_code == 2
    Ledger.for_home(trainctl_home).save(_record("sweep-cli-aaaaaa", "s-one", 1.5, 1_700_000_000))
    done = cli("cancel", "--sweep", "s-one", "-o", "json")
    assert done.exit_code == 0, done.stderr
    assert [j["state"] for j in json.loads(done.stdout)["jobs"]] == ["succeeded"]
    purge = cli("down", "--sweep", "s-one", "--purge")
    assert purge.exit_code == 2 and "--yes" in purge.stderr  # no terminal: a purge of many jobs is never implicit
