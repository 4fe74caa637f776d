"""Fixtures of the AWS target's tests: a moto server per session (reset per test), a fault proxy in
front of it, and compiled jobs for spec variants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.compile import CompiledJob, compile_job
from orchestrator.jobs.records import JobPrices
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.imds import FakeImds
from orchestrator.testing.moto_server import MotoServer

SPEC = """\
name: {name}
team: vision
owner: alice@example.com
{cost_center}target: aws
resources:
  instance_type: {instance_type}
  spot: {spot}
  on_demand_fallback: {fallback}
  disk_gb: 64
  region: us-east-1
{ami}code:
  workdir: .
  run: python3 train.py
env:
  LR: "0.1"
secrets: {secrets}
checkpoints:
  keep_last: 2
limits:
  max_runtime: 1h
restarts:
  max_preemptions: 2
"""


@pytest.fixture
def faults(moto: MotoServer, fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """Like ``moto``, but clients go through the fault proxy (no faults until the test adds some)."""
    fault_proxy.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    yield fault_proxy
    fault_proxy.clear()


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., CompiledJob]:
    """Compile a spec variant: ``make_job(spot=True, fallback=False, ami=..., cost_center=None)``."""

    def make(
        *,
        spot: bool = False,
        fallback: bool = True,
        ami: str | None = None,
        cost_center: str | None = "cc-42",
        instance_type: str = "g5.xlarge",
        secrets: tuple[str, ...] = (),
        name: str = "vision-run",
        job_id: str = "vision-run-a1b2c3",
        on_demand_hourly_usd: float | None = None,
    ) -> CompiledJob:
        workdir = tmp_path / f"spec-{job_id}"
        workdir.mkdir(exist_ok=True)
        (workdir / "train.py").write_text("print('training')\n")
        text = SPEC.format(
            name=name,
            cost_center=f"cost_center: {cost_center}\n" if cost_center else "",
            instance_type=instance_type,
            spot=str(spot).lower(),
            fallback=str(fallback).lower(),
            ami=f"  ami: {ami}\n" if ami else "",
            secrets="[" + ", ".join(secrets) + "]",
        )
        path = workdir / "job.yaml"
        path.write_text(text)
        settings = get_settings()
        spot_prices = JobPrices(hourly_usd=1.0, on_demand_hourly_usd=on_demand_hourly_usd)
        return compile_job(load_spec(path), job_id, settings, prices=spot_prices, read_env=False)

    return make


def launch_request(template_id: str, **changes: Any) -> Any:
    """A LaunchRequest of job launch-test-abc123 from ``template_id`` (on-demand, 64 GB, no image named), with ``changes``."""
    from orchestrator.targets.aws.compute import LaunchRequest

    job_id = "launch-test-abc123"
    base: dict[str, Any] = {
        "job_id": job_id,
        "launch_template_id": template_id,
        "launch_template_version": "1",
        "tags": {"trainctl:job-id": job_id, "trainctl:managed-by": "trainctl"},
        "spot": False,
        "on_demand_fallback": True,
        "disk_gb": 64,
    }
    return LaunchRequest(**{**base, **changes})


def record_for(job: CompiledJob, **outputs: Any) -> Any:
    """A job record as `up` leaves it after allocating ``job``."""
    import time

    from orchestrator.jobs.records import JobRecord

    return JobRecord(
        job_id=job.job_id,
        name=job.spec.name,
        team=job.spec.team,
        owner=job.spec.owner,
        target="aws",
        state="running",
        created=time.time(),
        spec=job.spec.to_document(),
        outputs={"region": job.region, **outputs},
    )


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    """A fake instance metadata service (IMDSv2) on 127.0.0.1."""
    fake = FakeImds()
    yield fake
    fake.stop()
