"""`trainctl cost --actual` and `cost activate-tags` against moto (canned Cost Explorer answers, fault proxy)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cost.actuals import LAG_NOTICE, TAG_KEYS
from orchestrator.cost.billing import storage_cost
from orchestrator.testing.faults import Fault, FaultProxy, throttle
from orchestrator.testing.moto_server import MotoServer
from tests.cost.conftest import HOUR, ce_day, queue_cost_results, save_job, ts

pytestmark = pytest.mark.moto
JSON_API = "application/x-amz-json-1.1"


def day(offset: int) -> str:
    """The ISO date ``offset`` days from today (UTC)."""
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=offset)).isoformat()


def capture(operation: str) -> list[dict[str, Any]]:
    """Parameters of every ``operation`` call the Cost Explorer client makes from now on in this test."""
    from orchestrator.cloud import aws

    seen: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        seen.append(copy.deepcopy(params))

    aws.client("ce", region="us-east-1").meta.events.register(f"provide-client-params.ce.{operation}", hook)
    return seen


@pytest.fixture
def ledger(trainctl_home: Path) -> dict[str, float]:
    """Four jobs: two AWS jobs days ago, one AWS job that ended an hour ago, one local job. Returns estimates."""
    now = time.time()
    save_job(trainctl_home, "a-aaaaaa", start=ts(f"{day(-5)}T10:00"), hours=2, hourly=1.0)
    save_job(trainctl_home, "b-bbbbbb", start=ts(f"{day(-4)}T10:00"), hours=1, hourly=3.0, team="nlp", disk_gb=50)
    save_job(trainctl_home, "c-cccccc", start=now - 3 * HOUR, hours=2, hourly=1.0)
    save_job(trainctl_home, "d-dddddd", start=ts(f"{day(-3)}T10:00"), hours=1, hourly=0.5, target="local")
    return {
        "a-aaaaaa": 2.0 + storage_cost(100, 0.08, 2 * HOUR),
        "b-bbbbbb": 3.0 + storage_cost(50, 0.08, HOUR),
        "c-cccccc": 2.0 + storage_cost(100, 0.08, 2 * HOUR),
    }


def queue_answer(moto: MotoServer) -> None:
    """Cost Explorer knows job a (2.5 USD), a job trainctl has no record of, and untagged spend."""
    groups = {("a-aaaaaa", "vision"): 2.5, ("ghost-000000", "vision"): 1.0, ("", ""): 7.0}
    queue_cost_results(moto, {"ResultsByTime": [ce_day(day(-5), groups)], "DimensionValueAttributes": []})


def test_reconciles_estimate_and_actual_per_job(cli, moto: MotoServer, ledger: dict[str, float]) -> None:
    """Each AWS job gets estimate, actual and difference; jobs without an actual are flagged, recent ones as not yet."""
    queue_answer(moto)
    result = cli("cost", "--actual", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = {row["job_id"]: row for row in doc["jobs"]}
    assert set(rows) == {"a-aaaaaa", "b-bbbbbb", "c-cccccc", "ghost-000000"}  # the local job is not billed by AWS
    a = rows["a-aaaaaa"]
    assert a["status"] == "reconciled" and a["actual_usd"] == 2.5
    assert a["estimate_usd"] == pytest.approx(ledger["a-aaaaaa"], abs=1e-6)
    assert a["difference_usd"] == pytest.approx(2.5 - ledger["a-aaaaaa"], abs=1e-6)
    assert (rows["b-bbbbbb"]["status"], rows["b-bbbbbb"]["actual_usd"]) == ("no-actual", None)
    assert rows["b-bbbbbb"]["estimate_usd"] == pytest.approx(ledger["b-bbbbbb"], abs=1e-6)
    assert rows["c-cccccc"]["status"] == "no-actual-yet"
    assert rows["ghost-000000"]["status"] == "not-in-ledger"
    assert doc["estimate"] is False and doc["currency"] == "USD"
    assert doc["total_usd"] == 3.5 and doc["untagged_usd"] == 7.0
    assert doc["estimate_total_usd"] == pytest.approx(sum(ledger.values()), abs=1e-6)
    assert doc["reconciled"] == {
        "jobs": 1,
        "estimate_usd": a["estimate_usd"],
        "actual_usd": 2.5,
        "difference_usd": a["difference_usd"],
    }
    assert doc["lag_notice"] == LAG_NOTICE
    assert any("non-AWS" in n for n in doc["notices"]) and any("activate-tags" in n for n in doc["notices"])


def test_text_output_prints_the_lag_notice(cli, moto: MotoServer, ledger: dict[str, float]) -> None:
    """The text report is a per-job table (estimate, actual, diff, status) and says Cost Explorer lags by up to a day."""
    queue_answer(moto)
    result = cli("cost", "--actual")
    assert result.exit_code == 0, result.stderr
    assert "Cost Explorer data lags by up to a day" in result.stdout
    header = result.stdout.splitlines()[0].split()
    assert header[:4] == ["JOB", "NAME", "TEAM", "STATE"] and "STATUS" in header
    a_line = next(line for line in result.stdout.splitlines() if line.startswith("a-aaaaaa"))
    assert "2.5000" in a_line and "+0.4781" in a_line and a_line.endswith("reconciled")
    assert "1 reconciled job(s): actual 2.5000 USD vs estimated 2.0219 USD (+0.4781)" in result.stdout
    assert "untagged AWS cost: 7.0000 USD" in result.stdout


def test_request_groups_daily_cost_by_job_and_team_tags(cli, moto: MotoServer, ledger: dict[str, float]) -> None:
    """The query: daily unblended cost grouped by trainctl:job-id and trainctl:team, first AWS job's day to tomorrow."""
    seen = capture("GetCostAndUsage")
    assert cli("cost", "--actual", "-o", "json").exit_code == 0
    assert seen == [
        {
            "TimePeriod": {"Start": day(-5), "End": day(1)},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "TAG", "Key": "trainctl:job-id"}, {"Type": "TAG", "Key": "trainctl:team"}],
        }
    ]


def test_pages_are_followed(cli, moto: MotoServer, trainctl_home: Path) -> None:
    """Every page of the answer counts (NextPageToken followed); per-day actuals feed the groups."""
    save_job(trainctl_home, "a-aaaaaa", start=ts(f"{day(-6)}T23:00"), hours=2, hourly=1.0)
    first = {"ResultsByTime": [ce_day(day(-6), {("a-aaaaaa", "vision"): 0.5})], "NextPageToken": "page-2"}
    second = {"ResultsByTime": [ce_day(day(-5), {("a-aaaaaa", "vision"): 1.75})]}
    queue_cost_results(moto, first, second)
    seen = capture("GetCostAndUsage")
    doc = json.loads(cli("cost", "--actual", "--by", "team", "-o", "json").stdout)
    assert [call.get("NextPageToken") for call in seen] == [None, "page-2"]
    assert doc["groups"] == [{"group": "vision", "cost_usd": 2.25, "jobs": 1}]
    assert doc["jobs"][0]["actual_usd"] == 2.25


def test_job_argument_limits_the_reconciliation(cli, moto: MotoServer, ledger: dict[str, float]) -> None:
    """With JOB, only that job is reconciled; other tagged costs in the answer are left out."""
    queue_answer(moto)
    doc = json.loads(cli("cost", "a-aaaaaa", "--actual", "-o", "json").stdout)
    assert [row["job_id"] for row in doc["jobs"]] == ["a-aaaaaa"]
    assert doc["total_usd"] == 2.5


def test_csv_lists_one_line_per_job(cli, moto: MotoServer, ledger: dict[str, float]) -> None:
    """-o csv with --actual prints the reconciliation: job, estimate, actual, difference, status."""
    queue_answer(moto)
    lines = cli("cost", "--actual", "-o", "csv").stdout.splitlines()
    assert lines[0] == "job_id,name,team,state,estimate_usd,actual_usd,difference_usd,status"
    assert len(lines) == 5 and any(
        line.startswith("b-bbbbbb,b,nlp,succeeded,") and line.endswith(",,,no-actual") for line in lines
    )


def test_resource_type_is_refused_with_actual(cli, moto: MotoServer) -> None:
    """Cost Explorer is grouped by tags, not resource type: --actual --by resource-type is invalid input (exit 2)."""
    result = cli("cost", "--actual", "--by", "resource-type")
    assert result.exit_code == 2
    assert "--by job, team, owner, target" in result.stderr


def test_throttling_is_retried(cli, moto: MotoServer, proxy: FaultProxy, ledger: dict[str, float]) -> None:
    """A throttled Cost Explorer call is retried by the client and the report still comes out right."""
    queue_answer(moto)
    proxy.add(throttle("GetCostAndUsage", json_api=True, times=1))
    result = cli("cost", "--actual", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total_usd"] == 3.5
    assert proxy.count("AWSInsightsIndexService.GetCostAndUsage") == 2


def test_cost_explorer_not_enabled_says_what_to_do(cli, moto: MotoServer, proxy: FaultProxy, ledger: dict[str, float]) -> None:
    """DataUnavailableException is a cloud error (exit 5) whose hint says to enable Cost Explorer."""
    body = b'{"__type": "DataUnavailableException", "message": "Data is not available."}'
    proxy.add(Fault("GetCostAndUsage", "canned", status=400, body=body, content_type=JSON_API))
    result = cli("cost", "--actual")
    assert result.exit_code == 5
    assert "DataUnavailableException" in result.stderr and "Cost Explorer is not enabled" in result.stderr


def test_activate_tags_calls_the_api(cli, moto: MotoServer, proxy: FaultProxy) -> None:
    """activate-tags sends update_cost_allocation_tags_status with the five trainctl tags set Active (moto lacks the
    API: the fault proxy answers it)."""
    proxy.add(Fault("UpdateCostAllocationTagsStatus", "canned", status=200, body=b'{"Errors": []}', content_type=JSON_API))
    seen = capture("UpdateCostAllocationTagsStatus")
    result = cli("cost", "activate-tags", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"version": 1, "activated": list(TAG_KEYS)}
    assert seen == [{"CostAllocationTagsStatus": [{"TagKey": key, "Status": "Active"} for key in TAG_KEYS]}]
    assert set(TAG_KEYS) == {"trainctl:job-id", "trainctl:job-name", "trainctl:team", "trainctl:owner", "trainctl:cost-center"}
    assert proxy.count("AWSInsightsIndexService.UpdateCostAllocationTagsStatus", "canned") == 1


def test_activate_tags_reports_keys_aws_refused(cli, moto: MotoServer, proxy: FaultProxy) -> None:
    """A per-key error in the answer is a cloud error (exit 5) naming the key, with a hint about billing data delay."""
    body = json.dumps(
        {"Errors": [{"TagKey": "trainctl:cost-center", "Code": "TagKeysNotFoundException", "Message": "not found"}]}
    )
    proxy.add(Fault("UpdateCostAllocationTagsStatus", "canned", status=200, body=body.encode(), content_type=JSON_API))
    result = cli("cost", "activate-tags")
    assert result.exit_code == 5
    assert "1 of 5 tag keys were not activated" in result.stderr
    assert "trainctl:cost-center: TagKeysNotFoundException: not found" in result.stderr
    assert "billing data" in result.stderr


def test_activate_tags_text_lists_each_key(cli, moto: MotoServer, proxy: FaultProxy) -> None:
    """Text output names every activated key and says when Cost Explorer will show them."""
    proxy.add(Fault("UpdateCostAllocationTagsStatus", "canned", status=200, body=b'{"Errors": []}', content_type=JSON_API))
    result = cli("cost", "activate-tags")
    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("activated")] == [f"activated {k}" for k in TAG_KEYS]
