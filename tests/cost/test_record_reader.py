"""The cost report's fast record reader reads each field as JobRecord does, including the fallbacks of older records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cost.reports import CostRecord, read_records
from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.models import JobSpec

AWS_SPEC = JobSpec.model_validate(
    {
        "name": "vision-run",
        "team": "vision",
        "owner": "alice@example.com",
        "target": "aws",
        "resources": {"instance_type": "g5.xlarge", "spot": True, "disk_gb": 120, "region": "eu-west-1"},
        "code": {"run": "python train.py"},
    }
).to_document()
LOCAL_SPEC = JobSpec.model_validate(
    {"name": "local-run", "team": "nlp", "owner": "bob@example.com", "code": {"run": "python train.py"}}
).to_document()
BASE = {"name": "vision-run", "team": "vision", "owner": "alice@example.com", "created": 1_700_000_000.0}
DOCUMENTS: dict[str, dict[str, Any]] = {
    "aws-ended": {
        **BASE,
        "job_id": "aws-ended-aaaaaa",
        "target": "aws",
        "state": "succeeded",
        "started_at": 1_700_000_100.0,
        "ended_at": 1_700_003_700.0,
        "region": "eu-west-1",
        "prices": {"hourly_usd": 0.4, "on_demand_hourly_usd": 1.2},
        "hourly_usd": 1.2,
        "cost_usd": 1.2,
        "spec": AWS_SPEC,
        "past_runs": [[1_699_999_000.0, 1_699_999_500.0, 0.4]],
    },
    "aws-older-record-without-region": {
        **BASE,
        "job_id": "aws-old-bbbbbb",
        "target": "aws",
        "state": "running",
        "started_at": 1_700_000_100.0,
        "hourly_usd": 0.4,
        "spec": {**AWS_SPEC, "resources": {**AWS_SPEC["resources"], "region": None}},
    },
    "local-minimal": {**BASE, "job_id": "local-cccccc", "target": "local", "spec": LOCAL_SPEC},
    "blocked": {**BASE, "job_id": "blocked-dddddd", "target": "local", "state": "blocked", "cost_usd": 0.0, "spec": LOCAL_SPEC},
    "written-by-a-newer-version": {**BASE, "job_id": "newer-eeeeee", "target": "local", "spec": LOCAL_SPEC, "gpus": 8},
    "sweep-member": {
        **BASE,
        "job_id": "swept-ffffff",
        "target": "local",
        "spec": LOCAL_SPEC,
        "sweep": {"sweep_id": "local-run-sweep-0123abcd", "params": {"env.LR": "0.1"}},
    },
}
RECORD_FIELDS = (
    "job_id",
    "name",
    "team",
    "owner",
    "target",
    "state",
    "created",
    "started_at",
    "ended_at",
    "hourly_usd",
    "cost_usd",
)


def _from_spec(record: JobRecord) -> tuple[str | None, float]:
    resources = record.job_spec().resources
    return resources.instance_type, float(resources.disk_gb)


@pytest.mark.parametrize("case", sorted(DOCUMENTS))
def test_fast_reader_reads_every_field_as_the_model_does(case: str) -> None:
    """Each CostRecord field equals the JobRecord field of the same document (region: the same fallback)."""
    document = DOCUMENTS[case]
    fast = CostRecord.from_document(json.loads(json.dumps(document)))
    model = JobRecord.model_validate(document)
    for name in RECORD_FIELDS:
        assert getattr(fast, name) == getattr(model, name), name
    assert fast.region == model.region
    assert [list(run) for run in fast.past_runs] == [list(run) for run in model.past_runs]
    instance_type, disk_gb = _from_spec(model)
    assert (fast.instance_type, fast.disk_gb) == (instance_type, disk_gb)
    assert fast.sweep_id == (model.sweep.sweep_id if model.sweep else None)
    assert set(CostRecord._fields) <= {*RECORD_FIELDS, "region", "past_runs", "instance_type", "disk_gb", "sweep_id"}


def test_older_aws_record_gets_the_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record written before records stored a region: its spec's region, else the default region setting."""
    from orchestrator.settings import get_settings

    monkeypatch.setenv("TRAINCTL_DEFAULT_REGION", "us-west-2")
    get_settings.cache_clear()
    document = DOCUMENTS["aws-older-record-without-region"]
    assert JobRecord.model_validate(document).region == "us-west-2"
    assert CostRecord.from_document(document).region == "us-west-2"
    with_region = {**document, "spec": AWS_SPEC}
    assert JobRecord.model_validate(with_region).region == "eu-west-1"
    assert JobRecord.model_validate(DOCUMENTS["local-minimal"]).region is None


def test_reader_through_the_ledger_files(trainctl_home: Path) -> None:
    """Records saved by the Ledger and read back by the fast reader carry the same region and state."""
    ledger = Ledger.for_home(trainctl_home)
    for document in DOCUMENTS.values():
        ledger.save(JobRecord.model_validate(document))
    fast = {r.job_id: (r.region, r.state) for r in read_records(ledger, trainctl_home)}
    slow = {r.job_id: (r.region, r.state) for r in ledger.all()}
    assert fast == slow and len(fast) == len(DOCUMENTS)
