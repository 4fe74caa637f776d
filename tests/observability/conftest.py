"""Shared data for the observability tests: a small fleet of job records, one of them running."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from orchestrator.agent import procs
from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import parse_spec

SPEC = "name: train\nteam: vision\nowner: o@x.org\ncode: {run: python train.py}\nlimits: {max_cost_usd: 5}\n"


def _save(home: Path, job_id: str, team: str, state: str, **fields: Any) -> None:
    record = JobRecord(job_id=job_id, name=job_id[:-7], team=team, owner="o@x.org", target="local", state=state, **fields)
    Ledger.for_home(home).save(record)


def write_fleet(home: Path) -> None:
    """Three jobs: train-aaaaaa running (this test process stands in for its live agent; script metrics
    loss 0.25 and step 40; $3.6/h for 100 s; budget $5), done-bbbbbb succeeded ($2), oops-cccccc failed ($0.5)."""
    now = time.time()
    _save(
        home,
        "train-aaaaaa",
        "vision",
        "running",
        created=now - 120,
        started_at=now - 100,
        hourly_usd=3.6,
        spec=parse_spec(SPEC).to_document(),
    )
    artifacts = home / "artifacts" / "train-aaaaaa"
    artifacts.mkdir(parents=True)
    status = {
        "state": "running",
        "pid": os.getpid(),
        "start_ticks": procs.start_ticks(os.getpid()),
        "updated_at": now - 5,
        "newest_checkpoint": "step-0040.json",
        "newest_checkpoint_at": now - 30,
        "metrics": {"loss": 0.25, "step": 40},
    }
    (artifacts / "status.json").write_text(json.dumps(status))
    _save(home, "done-bbbbbb", "vision", "succeeded", created=now - 180, started_at=now - 150, ended_at=now - 50, cost_usd=2.0)
    _save(
        home,
        "oops-cccccc",
        "nlp",
        "failed",
        created=now - 190,
        started_at=now - 150,
        ended_at=now - 140,
        cost_usd=0.5,
        reason="exit 3",
    )
