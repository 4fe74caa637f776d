"""Fixtures for cost tests: job records written through the real Ledger, and moto (one server per session).

The moto server comes from ``orchestrator.testing.moto_server``; Cost Explorer answers are queued through
moto's ``/moto-api/static/ce/cost-and-usage-results`` endpoint. APIs moto lacks (cost allocation tags)
are answered by the fault proxy's canned responses.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.moto_server import MotoServer

HOUR = 3600.0


def ts(text: str) -> float:
    """Epoch seconds of an ISO UTC time such as ``2026-11-01T12:00``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def save_job(
    home: Path,
    job_id: str,
    *,
    start: float | None,
    hours: float | None = 1.0,
    team: str = "vision",
    owner: str = "alice@example.com",
    target: str = "aws",
    hourly: float = 1.0,
    cost: float | None = None,
    state: str | None = None,
    instance_type: str = "g5.xlarge",
    disk_gb: int = 100,
    region: str | None = "us-east-1",
    nodes: int = 1,
) -> JobRecord:
    """A job record as `up`/teardown write it: ended (``hours`` set) with a recorded cost, or still running."""
    ended = None if start is None or hours is None else start + hours * HOUR
    if cost is None and ended is not None and start is not None:
        cost = hourly * (ended - start) / HOUR
    resources: dict[str, Any] = {"disk_gb": 50, "nodes": nodes}
    if target == "aws":
        resources = {"instance_type": instance_type, "disk_gb": disk_gb, "region": region, "nodes": nodes}
    record = JobRecord(
        job_id=job_id,
        name=job_id.rsplit("-", 1)[0],
        team=team,
        owner=owner,
        target=target,
        state=state or ("succeeded" if ended is not None else "running"),
        created=(start or ts("2026-11-01T00:00")) - 30,
        started_at=start,
        ended_at=ended,
        hourly_usd=hourly,
        cost_usd=cost if ended is not None else None,
        spec={"name": job_id.rsplit("-", 1)[0], "target": target, "resources": resources},
    )
    Ledger.for_home(home).save(record)
    return record


@pytest.fixture
def proxy(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto; clients of this test go through it."""
    from orchestrator.cloud import aws

    front = FaultProxy(moto.url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
    aws.clear_clients()
    yield front
    front.stop()
    aws.clear_clients()


def queue_cost_results(server: MotoServer, *results: dict[str, Any]) -> None:
    """Queue canned get_cost_and_usage answers: moto hands them out in order, one per distinct request."""
    body = json.dumps({"results": list(results)}).encode()
    url = f"{server.url}/moto-api/static/ce/cost-and-usage-results"
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - the loopback moto server
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the loopback moto server
        assert answer.status == 201


def ce_day(day: str, groups: dict[tuple[str, str], float], *, estimated: bool = False) -> dict[str, Any]:
    """One day of Cost Explorer results grouped by (job id, team) tag values, as AWS shapes it."""
    end = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    return {
        "TimePeriod": {"Start": day, "End": end},
        "Total": {},
        "Groups": [
            {
                "Keys": [f"trainctl:job-id${job}", f"trainctl:team${team}"],
                "Metrics": {"UnblendedCost": {"Amount": f"{usd:.10f}", "Unit": "USD"}},
            }
            for (job, team), usd in groups.items()
        ],
        "Estimated": estimated,
    }
