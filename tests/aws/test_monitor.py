"""The AWS monitor (moto): job state from S3 status and the instance, preemption -> relaunch decisions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agent.s3store import S3Store
from orchestrator.cloud import aws
from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import compute, names
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.targets.base import Observation
from orchestrator.targets.preemption import PREEMPTED, decide
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.harness import wait_until
from orchestrator.testing.moto_server import MotoServer, interrupt_spot, register_image, shut_down
from tests.aws.conftest import record_for

pytestmark = pytest.mark.moto


class Job:
    """A job whose bucket and launch template exist in moto, with helpers to launch and report."""

    def __init__(self, compiled: CompiledJob) -> None:
        self.compiled = compiled
        self.bucket = names.bucket_name(compiled.job_id)
        self.s3 = aws.client("s3", region="us-east-1")
        self.ec2 = aws.client("ec2", region="us-east-1")
        self.s3.create_bucket(Bucket=self.bucket)
        data = {"ImageId": register_image(self.ec2), "InstanceType": "g5.xlarge"}
        template = self.ec2.create_launch_template(LaunchTemplateName=f"trainctl-{compiled.job_id}", LaunchTemplateData=data)
        self.template_id = template["LaunchTemplate"]["LaunchTemplateId"]
        self.record = record_for(compiled, bucket=self.bucket)

    def launch(self) -> str:
        request = compute.LaunchRequest(
            job_id=self.compiled.job_id,
            launch_template_id=self.template_id,
            launch_template_version="1",
            tags=self.compiled.tags,
            spot=True,
            on_demand_fallback=True,
            disk_gb=64,
        )
        return compute.launch(self.ec2, request).instance_id

    def status(self, state: str, **fields: Any) -> None:
        body = {"job_id": self.compiled.job_id, "state": state, "updated_at": time.time(), "started_at": time.time(), **fields}
        self.s3.put_object(Bucket=self.bucket, Key="status.json", Body=json.dumps(body).encode())

    def checkpoint(self, tmp_path: Path, name: str, mtime: float) -> None:
        path = tmp_path / name
        path.write_text(name)
        import os

        os.utime(path, (mtime, mtime))
        S3Store(f"s3://{self.bucket}").put_path(path, f"checkpoints/{name}")


@pytest.fixture
def job(moto: MotoServer, make_job: Callable[..., CompiledJob]) -> Job:
    return Job(make_job(spot=True))


def test_running_job_reads_as_running(job: Job) -> None:
    """A running instance with a running status is a running job, with the status's checkpoint."""
    job.launch()
    job.status("running", newest_checkpoint="step-0001")
    seen = AwsTarget().observe(job.record)
    assert seen.state == "running" and seen.newest_checkpoint == "step-0001"


def test_before_the_first_heartbeat_the_job_is_starting(job: Job) -> None:
    """No status yet and the instance pending or running: still running (starting), never gone."""
    job.launch()
    seen = AwsTarget().observe(job.record)
    assert seen.state == "running" and seen.reason is not None and seen.reason.startswith("instance")


def test_final_status_wins(job: Job) -> None:
    """A succeeded status is the job's outcome even once the instance has shut itself down."""
    instance = job.launch()
    job.status("succeeded", exit_code=0, reason="exit 0", ended_at=time.time())
    shut_down(instance)
    seen = AwsTarget().observe(job.record)
    assert (seen.state, seen.exit_code, seen.reason) == ("succeeded", 0, "exit 0")


def test_instance_gone_without_a_final_status_is_gone(job: Job) -> None:
    """An instance that ended while the status still said running reads as gone, naming why."""
    instance = job.launch()
    job.status("running")
    shut_down(instance)
    seen = AwsTarget().observe(job.record)
    assert seen.state == "gone" and "InstanceInitiatedShutdown" in (seen.reason or "")


def test_spot_interruption_gives_a_relaunch_decision_from_the_newest_checkpoint(job: Job, tmp_path: Path) -> None:
    """A spot-terminated instance is a preemption: relaunch, resuming from the newest checkpoint in S3."""
    instance = job.launch()
    job.status("running", newest_checkpoint="step-0002")
    job.checkpoint(tmp_path, "step-0001", 1000.0)
    job.checkpoint(tmp_path, "step-0002", 2000.0)
    interrupt_spot(instance)
    target = AwsTarget()
    seen = target.observe(job.record)
    assert (seen.state, seen.reason) == ("stopped", PREEMPTED)
    decision = target.relaunch_decision(job.record)
    assert decision.action == "relaunch" and decision.preemptions == 1
    assert decision.resume_from == f"s3://{job.bucket}/checkpoints/step-0002"


def test_preemptions_beyond_the_limit_give_up(job: Job) -> None:
    """Once restarts.max_preemptions relaunches happened, the next preemption is not relaunched."""
    instance = job.launch()
    job.status("running")
    interrupt_spot(instance)
    record = job.record.model_copy(update={"preemptions": 2})  # the spec allows 2
    decision = AwsTarget().relaunch_decision(record)
    assert decision.action == "give-up" and "max_preemptions" in decision.reason


def test_the_agent_seeing_the_notice_counts_as_a_preemption(job: Job) -> None:
    """The agent stopped on the spot notice (status stopped, spot-interruption): a relaunch, no checkpoint yet."""
    instance = job.launch()
    job.status("stopped", reason=PREEMPTED, exit_code=143)
    shut_down(instance)
    decision = AwsTarget().relaunch_decision(job.record)
    assert decision.action == "relaunch" and decision.resume_from is None


def test_status_of_the_previous_instance_is_ignored_after_a_relaunch(job: Job) -> None:
    """After a relaunch, the old instance's final status does not end the new run."""
    job.status("stopped", reason=PREEMPTED)
    written = int(time.time())
    wait_until(lambda: int(time.time()) > written, interval=0.05)  # EC2 launch times have one-second resolution
    job.launch()
    seen = AwsTarget().observe(job.record)
    assert seen.state == "running"


def test_throttled_reads_never_read_as_a_dead_job(faults: FaultProxy, job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    """When EC2 keeps throttling, the job reads as running (ask again), not gone: no needless recovery."""
    from orchestrator.retry import RetryPolicy
    from orchestrator.settings import get_settings

    monkeypatch.setenv("TRAINCTL_RETRY_BASE_DELAY_S", "0.01")
    get_settings.cache_clear()
    instance = job.launch()
    job.status("running")
    shut_down(instance)
    faults.add(fault_kinds.throttle("DescribeInstances"))
    seen = AwsTarget().observe(job.record)
    assert seen.state == "running" and "status unavailable" in (seen.reason or "")
    assert faults.count("DescribeInstances", "throttle") == RetryPolicy.from_settings().max_attempts


def test_decisions_for_jobs_that_were_not_preempted() -> None:
    """Only a preemption leads to a relaunch; other endings keep their outcome."""
    for seen in (
        Observation(state="succeeded"),
        Observation(state="gone", reason="x"),
        Observation(state="stopped", reason="signal"),
    ):
        assert decide(seen, preemptions=0, max_preemptions=3, newest_checkpoint=None).action == "none"
    preempted = Observation(state="stopped", reason=PREEMPTED)
    assert decide(preempted, preemptions=0, max_preemptions=0, newest_checkpoint=None).action == "give-up"
