"""`trainctl cost` estimate reports: grouping, job filter, windows, per-day attribution, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from orchestrator.cost.accrual import accrued_cost
from orchestrator.cost.billing import storage_cost
from orchestrator.cost.reports import CACHE_FILE, Report, cost_report, read_records
from orchestrator.cost.window import parse_window
from orchestrator.errors import InvalidInputError
from orchestrator.jobs.index import Ledger
from orchestrator.settings import get_settings
from tests.conftest import CliResult
from tests.cost.conftest import HOUR, save_job, ts

NOV = ("--since", "2026-11-01", "--until", "2026-11-30")
NOW = ts("2026-12-01T00:00")


def report(by: str, since: str | None = None, until: str | None = None, *, now: float = NOW) -> Report:
    """The estimate report as `trainctl cost --by BY --since SINCE --until UNTIL` computes it at ``now``."""
    return cost_report(get_settings(), by=by, window=parse_window(since, until, now), now=now)


def groups(result: CliResult) -> dict[str, tuple[float, int]]:
    doc = json.loads(result.stdout)
    return {g["group"]: (g["cost_usd"], g["jobs"]) for g in doc["groups"]}


@pytest.fixture
def three_jobs(trainctl_home: Path) -> None:
    """vision: 2 aws jobs by alice (2 + 3 USD); nlp: 1 local job by bob (4 USD)."""
    save_job(trainctl_home, "resnet-aaaaaa", start=ts("2026-11-02T10:00"), hours=2, hourly=1.0)
    save_job(trainctl_home, "resnet-bbbbbb", start=ts("2026-11-03T10:00"), hours=1, hourly=3.0)
    save_job(
        trainctl_home,
        "bert-cccccc",
        start=ts("2026-11-04T10:00"),
        hours=2,
        hourly=2.0,
        team="nlp",
        owner="bob@example.com",
        target="local",
    )


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("team", {"vision": (5.0, 2), "nlp": (4.0, 1)}),
        ("owner", {"alice@example.com": (5.0, 2), "bob@example.com": (4.0, 1)}),
        ("target", {"aws": (5.0, 2), "local": (4.0, 1)}),
        ("job", {"resnet-aaaaaa": (2.0, 1), "resnet-bbbbbb": (3.0, 1), "bert-cccccc": (4.0, 1)}),
    ],
)
def test_groups_sum_recorded_job_costs(cli, three_jobs: None, by: str, expected: dict[str, tuple[float, int]]) -> None:
    """--by team|owner|target|job sums each job's recorded final cost into its group, with the job count."""
    result = cli("cost", "--by", by, "-o", "json", *NOV)
    assert result.exit_code == 0, result.stderr
    assert groups(result) == expected


def test_json_shape(cli, three_jobs: None) -> None:
    """The JSON report has groups (largest first), total, the window, currency and estimate=true."""
    doc = json.loads(cli("cost", "--by", "team", "-o", "json", *NOV).stdout)
    assert doc["groups"] == [{"group": "vision", "cost_usd": 5.0, "jobs": 2}, {"group": "nlp", "cost_usd": 4.0, "jobs": 1}]
    assert doc["total_usd"] == 9.0
    assert (doc["since"], doc["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert doc["currency"] == "USD" and doc["estimate"] is True


def test_csv_shape(cli, three_jobs: None) -> None:
    """-o csv prints a header `group,cost_usd,jobs` and one parseable line per group, nothing else on stdout."""
    result = cli("cost", "--by", "owner", "-o", "csv", *NOV)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [["group", "cost_usd", "jobs"], ["alice@example.com", "5.0", "2"], ["bob@example.com", "4.0", "1"]]


def test_text_table_has_total_and_window(cli, three_jobs: None) -> None:
    """The text report is a table with a TOTAL row and names the window and that these are estimates."""
    result = cli("cost", "--by", "team", *NOV)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TEAM", "JOBS", "COST", "$"]
    assert lines[1].split() == ["vision", "2", "5.0000"]
    assert any(line.split() == ["TOTAL", "3", "9.0000"] for line in lines)
    assert "2026-11-01T00:00:00Z .. 2026-12-01T00:00:00Z" in result.stdout and "estimates" in result.stdout


def test_resource_type_splits_compute_and_storage(cli, trainctl_home: Path) -> None:
    """--by resource-type: compute by instance type ("local" for local jobs) plus gp3 disk over the runtime for AWS jobs."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=2, hourly=1.006, disk_gb=100)
    save_job(
        trainctl_home, "b-bbbbbb", start=ts("2026-11-03T00:00"), hours=1, hourly=0.526, instance_type="g4dn.xlarge", disk_gb=50
    )
    save_job(trainctl_home, "c-cccccc", start=ts("2026-11-03T00:00"), hours=3, hourly=0.5, target="local")
    result = cli("cost", "--by", "resource-type", "-o", "json", *NOV)
    assert result.exit_code == 0, result.stderr
    found = groups(result)
    gp3 = 0.08  # us-east-1 in the packaged catalog
    storage = storage_cost(100, gp3, 2 * HOUR) + storage_cost(50, gp3, HOUR)
    assert found["compute:g5.xlarge"] == (pytest.approx(2.012), 1)
    assert found["compute:g4dn.xlarge"] == (pytest.approx(0.526), 1)
    assert found["compute:local"] == (pytest.approx(1.5), 1)
    assert found["storage:gp3"] == (pytest.approx(storage, abs=1e-6), 2)
    assert set(found) == {"compute:g5.xlarge", "compute:g4dn.xlarge", "compute:local", "storage:gp3"}


def test_resource_type_notes_regions_without_a_storage_price(cli, trainctl_home: Path) -> None:
    """A region with no gp3 price in the catalog is not guessed: its storage is left out and the report says so."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, region="eu-west-1")
    doc = json.loads(cli("cost", "--by", "resource-type", "-o", "json", *NOV).stdout)
    assert [g["group"] for g in doc["groups"]] == ["compute:g5.xlarge"]
    assert any("eu-west-1" in n and "gp3" in n for n in doc["notices"])


def test_job_argument_limits_to_one_job_by_id_or_name(cli, three_jobs: None, trainctl_home: Path) -> None:
    """JOB is a job id, or a name meaning its newest job; the report covers that job only."""
    by_id = groups(cli("cost", "resnet-aaaaaa", "-o", "json", *NOV))
    assert by_id == {"resnet-aaaaaa": (2.0, 1)}
    by_name = groups(cli("cost", "resnet", "--by", "team", "-o", "json", *NOV))
    assert by_name == {"vision": (3.0, 1)}  # resnet-bbbbbb is the newer of the two


def test_unknown_job_exits_2(cli, three_jobs: None) -> None:
    """A JOB that matches no id or name is invalid input (exit 2) with a hint."""
    result = cli("cost", "nope-000000")
    assert result.exit_code == 2
    assert "no job 'nope-000000'" in result.stderr


def test_unknown_by_exits_2(cli) -> None:
    """An unknown --by value is rejected by the CLI (exit 2), listing the choices."""
    result = cli("cost", "--by", "colour")
    assert result.exit_code == 2
    assert "resource-type" in result.stderr


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "7x", "-3d"])
def test_bad_since_exits_2(cli, value: str) -> None:
    """--since must be a date or a duration; anything else is invalid input naming the option."""
    result = cli("cost", "--since", value)
    assert result.exit_code == 2
    assert "--since" in result.stderr


def test_since_after_until_exits_2(cli) -> None:
    """A window that ends before it starts is invalid input."""
    result = cli("cost", "--since", "2026-11-10", "--until", "2026-11-01")
    assert result.exit_code == 2
    assert "not before" in result.stderr


def test_window_takes_the_prorated_share_of_jobs_that_cross_it(trainctl_home: Path) -> None:
    """A job that ran 48 h over three days counts 24/48 of its cost in a one-day window (seconds inside / runtime)."""
    save_job(trainctl_home, "long-aaaaaa", start=ts("2026-11-01T12:00"), hours=48, hourly=1.0)
    middle = report("team", "2026-11-02", "2026-11-02")
    assert middle.total_usd == pytest.approx(24.0)
    assert middle.groups[0].days == {"2026-11-02": pytest.approx(24.0)}
    last = report("team", "2026-11-03", "2026-11-30")
    assert last.total_usd == pytest.approx(12.0)
    whole = report("team", "2026-11-01", "2026-11-30")
    assert whole.groups[0].days == {
        "2026-11-01": pytest.approx(12.0),
        "2026-11-02": pytest.approx(24.0),
        "2026-11-03": pytest.approx(12.0),
    }


def test_duration_window_means_the_last_n_days(trainctl_home: Path) -> None:
    """--since 7d is now minus 7 days: older jobs drop out, one straddling the edge counts only its part inside."""
    now = ts("2026-11-20T00:00")
    save_job(trainctl_home, "old-aaaaaa", start=ts("2026-11-01T00:00"), hours=1, hourly=5.0)
    save_job(trainctl_home, "edge-bbbbbb", start=ts("2026-11-12T22:00"), hours=4, hourly=1.0)
    save_job(trainctl_home, "new-cccccc", start=ts("2026-11-18T00:00"), hours=1, hourly=2.0)
    result = report("job", "7d", now=now)
    assert {g.group: round(g.cost_usd, 6) for g in result.groups} == {"new-cccccc": 2.0, "edge-bbbbbb": 2.0}
    assert result.window.to_dict() == {"since": "2026-11-13T00:00:00Z", "until": "2026-11-20T00:00:00Z"}
    assert result.days[0] == "2026-11-13" and result.days[-1] == "2026-11-19" and len(result.days) == 7


def test_unfinished_job_counts_cost_accrued_so_far(trainctl_home: Path) -> None:
    """A running job (no recorded cost yet) counts accrued_cost(record, now), spread up to now."""
    now = ts("2026-11-10T12:00")
    record = save_job(trainctl_home, "run-aaaaaa", start=ts("2026-11-10T10:30"), hours=None, hourly=2.0)
    result = report("team", now=now)
    assert result.total_usd == pytest.approx(accrued_cost(record, now)) and result.total_usd == pytest.approx(3.0)
    assert result.groups[0].days == {"2026-11-10": pytest.approx(3.0)}


def test_job_that_never_started_counts_with_zero_cost(trainctl_home: Path) -> None:
    """A job that never started is in its group's job count at zero cost (created inside the window)."""
    save_job(trainctl_home, "never-aaaaaa", start=None, state="failed")
    result = report("team", "2026-10-31", "2026-11-30")
    assert [(g.group, g.cost_usd, g.jobs) for g in result.groups] == [("vision", 0.0, 1)]


def test_recorded_cost_wins_over_accrual(trainctl_home: Path) -> None:
    """An ended job counts the cost recorded at teardown, not a recomputation from its hourly price."""
    save_job(trainctl_home, "done-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, hourly=2.0, cost=1.25)
    assert report("team", until="2026-11-30").total_usd == pytest.approx(1.25)


def test_fast_reader_agrees_with_the_ledger(trainctl_home: Path) -> None:
    """The report's fast record reader sees the same jobs and costs as Ledger.all, and skips broken files the same way."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, hourly=2.0)
    save_job(trainctl_home, "b-bbbbbb", start=ts("2026-11-03T00:00"), hours=None, hourly=1.0)
    save_job(trainctl_home, "c-cccccc", start=None)
    _relaunched(trainctl_home, "d-dddddd", running=True)
    ledger = Ledger.for_home(trainctl_home)
    ledger.store.write("jobs/broken-000000.json", b"{not json")
    ledger.store.write("jobs/partial-000000.json", json.dumps({"job_id": "partial-000000", "name": "partial"}).encode())
    first = json.loads(ledger.store.read("jobs/a-aaaaaa.json") or b"")
    ledger.store.write("jobs/extra-000000.json", json.dumps({**first, "job_id": "extra-000000", "new_field": 1}).encode())
    now = ts("2026-11-04T00:00")
    fast = {r.job_id: r.cost(now) for r in read_records(ledger, trainctl_home)}
    slow = {r.job_id: r.cost_usd if r.cost_usd is not None else accrued_cost(r, now) for r in ledger.all()}
    assert fast == slow
    assert set(fast) == {"a-aaaaaa", "b-bbbbbb", "c-cccccc", "d-dddddd", "extra-000000"}


def test_record_cache_follows_every_change(trainctl_home: Path) -> None:
    """The per-file cache never serves stale records: a rewritten record, a deleted one and a corrupt cache are all seen."""
    ledger = Ledger.for_home(trainctl_home)
    first = save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, hourly=2.0)
    save_job(trainctl_home, "b-bbbbbb", start=ts("2026-11-02T00:00"), hours=1, hourly=1.0)
    assert {r.job_id: r.cost_usd for r in read_records(ledger, trainctl_home)} == {"a-aaaaaa": 2.0, "b-bbbbbb": 1.0}
    cache = trainctl_home / CACHE_FILE
    assert cache.is_file()
    ledger.save(first.model_copy(update={"cost_usd": 2.5, "team": "nlp"}))
    ledger.delete("b-bbbbbb")
    assert [(r.job_id, r.cost_usd, r.team) for r in read_records(ledger, trainctl_home)] == [("a-aaaaaa", 2.5, "nlp")]
    cache.write_text("{not json")
    assert [r.job_id for r in read_records(ledger, trainctl_home)] == ["a-aaaaaa"]
    assert json.loads(cache.read_text())["entries"].keys() == {"jobs/a-aaaaaa.json"}


def test_unwritable_cache_only_loses_speed(trainctl_home: Path) -> None:
    """When the cache cannot be written (a file where its directory should be), reports still read every record."""
    save_job(trainctl_home, "a-aaaaaa", start=ts("2026-11-02T00:00"), hours=1, hourly=2.0)
    ledger = Ledger.for_home(trainctl_home)
    (trainctl_home / "cache").write_text("not a directory")
    assert [r.job_id for r in read_records(ledger, trainctl_home)] == ["a-aaaaaa"]


def test_service_rejects_unknown_grouping() -> None:
    """cost_report refuses a grouping it does not know (the CLI's Choice is not the only guard)."""
    with pytest.raises(InvalidInputError):
        cost_report(get_settings(), by="colour")


def test_empty_ledger_is_an_empty_report(cli) -> None:
    """No jobs: an empty group list and a zero total, exit 0."""
    doc = json.loads(cli("cost", "-o", "json").stdout)
    assert doc["groups"] == [] and doc["total_usd"] == 0


def test_cost_routes_to_report_unless_a_subcommand_is_named(cli, three_jobs: None) -> None:
    """`cost`, `cost JOB` and `cost --by ...` run the report; `cost --help` lists report and activate-tags."""
    assert cli("cost").exit_code == 0
    assert cli("cost", "report", "--by", "team", *NOV).stdout == cli("cost", "--by", "team", *NOV).stdout
    help_text = cli("cost", "--help").stdout
    assert "activate-tags" in help_text and "report" in help_text


def _relaunched(home: Path, job_id: str, *, running: bool = False) -> None:
    """A spot job preempted after 2 h on 11-02 ($1/h), relaunched on-demand on 11-05 ($3/h) for 1 h."""
    first = (ts("2026-11-02T10:00"), ts("2026-11-02T12:00"), 1.0)
    record = save_job(home, job_id, start=ts("2026-11-05T10:00"), hours=None if running else 1, hourly=3.0)
    cost = None if running else 2.0 + 3.0
    Ledger.for_home(home).save(record.model_copy(update={"past_runs": [first], "cost_usd": cost}))


def test_relaunched_job_counts_every_run_on_the_days_each_ran(trainctl_home: Path) -> None:
    """A preempted and relaunched job costs both runs, each on its own days and at its own price."""
    _relaunched(trainctl_home, "spot-aaaaaa")
    whole = report("job", "2026-11-01", "2026-11-30")
    assert whole.total_usd == pytest.approx(5.0)
    assert whole.groups[0].days == {"2026-11-02": pytest.approx(2.0), "2026-11-05": pytest.approx(3.0)}
    assert report("job", "2026-11-05", "2026-11-05").total_usd == pytest.approx(3.0)
    assert report("job", "2026-11-03", "2026-11-04").groups == []


def test_running_relaunched_job_accrues_earlier_runs_too(trainctl_home: Path) -> None:
    """While the second run is under way, the accrued cost is the first run plus the second so far."""
    _relaunched(trainctl_home, "spot-bbbbbb", running=True)
    now = ts("2026-11-05T10:30")
    assert report("team", now=now).total_usd == pytest.approx(2.0 + 1.5)
    record = Ledger.for_home(trainctl_home).load("spot-bbbbbb")
    assert record is not None and accrued_cost(record, now) == pytest.approx(3.5)
    assert record.runtime_s(now) == pytest.approx(2.5 * HOUR)
    assert record.summary(now)["runs"] == 2 and record.summary(now)["started"] == "2026-11-02T10:00:00Z"


def test_multi_node_job_storage_counts_every_node(cli, trainctl_home: Path) -> None:
    """--by resource-type: a 4-node AWS job's gp3 storage is its four disks; its compute is its recorded (group) price."""
    save_job(trainctl_home, "mn-aaaaaa", start=ts("2026-11-02T00:00"), hours=2, hourly=4 * 1.006, disk_gb=100, nodes=4)
    result = cli("cost", "--by", "resource-type", "-o", "json", *NOV)
    assert result.exit_code == 0, result.stderr
    found = groups(result)
    assert found["storage:gp3"] == (pytest.approx(storage_cost(400, 0.08, 2 * HOUR), abs=1e-6), 1)
    assert found["compute:g5.xlarge"] == (pytest.approx(8.048), 1)
