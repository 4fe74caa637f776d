"""Chaos: the AWS-side flows through a fault proxy in front of moto, with 30% of calls throttled.

Flows: the monitor (observe a spot preemption, decide to relaunch from the newest checkpoint), artifact
sync (the real Supervisor with S3Store), gc (find and remove leaks), `trainctl cost --actual`, and the
spot launch's capacity fallback. Throttled: 30% of EC2, S3, CloudWatch Logs, IAM, STS, Resource Groups
Tagging, SSM and Cost Explorer calls (each flow also gets two throttles in a row on its first call of one
service, so trainctl's retry layer is exercised every run). Retries are fast (TRAINCTL_RETRY_BASE_DELAY_S
0.01, at most 10 attempts). Permanent errors are injected too: AccessDenied fails at once, exit 5,
naming the operation. The suite prints requests, throttles and retries per flow in pytest's summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.s3store import S3Store
from orchestrator.agent.supervisor import Supervisor
from orchestrator.cloud import aws
from orchestrator.errors import AccessDeniedError
from orchestrator.gc.aws import aws_findings
from orchestrator.gc.aws_removal import remove_aws
from orchestrator.gc.findings import StackFacts
from orchestrator.jobs.records import JobRecord
from orchestrator.logs import configure_logging
from orchestrator.settings import get_settings
from orchestrator.spec.loader import parse_spec
from orchestrator.targets.aws import compute, monitor
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import Fault, FaultProxy
from orchestrator.testing.moto_server import MotoServer, interrupt_spot, register_image
from orchestrator.testing.scripts import THREE_STEP_TRAINER
from tests.cost.conftest import ce_day, queue_cost_results, save_job, ts
from tests.reliability.conftest import TABLES
from tests.reliability.test_gc_aws import ALL_KINDS, FAST_RETRIES, moto_client, plant, present, tags

pytestmark = pytest.mark.moto
RATE = 0.3
REGION = "us-east-1"
# Every request is one attempt for botocore, so a call fails only when 10 attempts in a row are throttled:
# 0.3**10 = 6e-6 per call (with the default 6 attempts, 7e-4 per call: about one failed call in every few runs).
CHAOS_RETRIES = {**FAST_RETRIES, "TRAINCTL_RETRY_MAX_ATTEMPTS": "10"}
TABLE = f"chaos: {int(RATE * 100)}% of AWS calls throttled (requests / throttled per service; trainctl retries)"
QUERY_VERSIONS = {b"Version=2016-11-15": "ec2", b"Version=2010-05-08": "iam", b"Version=2011-06-15": "sts"}
JSON_PREFIXES = {
    "Logs_20140328": "logs",
    "ResourceGroupsTaggingAPI_20170126": "tagging",
    "AWSInsightsIndexService": "ce",
    "AmazonSSM": "ssm",
}
SERVICES = ("ec2", "s3", "logs", "iam", "sts", "tagging", "ssm", "ce")
JSON_TYPE = "application/x-amz-json-1.1"
STORED_SPEC = f"""\
name: chaos-run
team: vision
owner: alice@example.com
target: aws
resources: {{instance_type: g5.xlarge, spot: true, region: {REGION}}}
code: {{run: python3 train.py}}
restarts: {{max_preemptions: 2}}
"""


def service_of(action: str | None, target: str | None, body: bytes) -> str:
    """Which AWS service a request is for, from what the proxy sees (S3, the REST API, as ``S3:<METHOD>``)."""
    if action and action.startswith("S3:"):
        return "s3"
    if target:
        prefix = target.split(".", 1)[0]
        return JSON_PREFIXES.get(prefix, prefix)
    if action:
        return next((name for marker, name in QUERY_VERSIONS.items() if marker in body), "query")
    return "s3"


@dataclass
class ServiceFault(Fault):
    """A fault for every call of one service (not one action); counts the requests it saw."""

    service: str = "s3"
    requests: int = field(default=0, init=False)

    def matches(self, action: str | None, target: str | None, body: bytes) -> bool:
        if service_of(action, target, body) != self.service:
            return False
        self.requests += 1
        return self.times is None or self.injected < self.times


def throttling(service: str, *, rate: float = 1.0, times: int | None = None) -> ServiceFault:
    """What a throttled call of ``service`` gets back from AWS."""
    if service == "s3":  # 503 Slow Down; no body, since HEAD answers carry none
        return ServiceFault(service, "throttle", rate=rate, times=times, status=503, service=service)
    if service == "ec2":
        body = fault_kinds.throttle("any").body  # 503 RequestLimitExceeded
        return ServiceFault(service, "throttle", rate=rate, times=times, status=503, body=body, service=service)
    if service in ("iam", "sts"):
        body = b"<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
        return ServiceFault(service, "throttle", rate=rate, times=times, status=400, body=body, service=service)
    body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
    return ServiceFault(
        service, "throttle", rate=rate, times=times, status=400, body=body, content_type=JSON_TYPE, service=service
    )


def denied(service: str, body: bytes, *, status: int = 400, content_type: str = JSON_TYPE) -> ServiceFault:
    """Every call of ``service`` refused for lack of permission."""
    return ServiceFault(service, "canned", status=status, body=body, content_type=content_type, service=service)


@dataclass
class Chaos:
    """The proxy in front of moto with per-service faults, and what the flow's retries looked like."""

    proxy: FaultProxy
    server: MotoServer
    capsys: pytest.CaptureFixture[str]
    randoms: dict[str, ServiceFault] = field(default_factory=dict)

    def throttle(self, first: str, rate: float = RATE) -> None:
        """Throttle ``rate`` of every service's calls, and the first two calls of ``first`` for sure."""
        self.proxy.add(throttling(first, times=2))
        for service in SERVICES:
            self.randoms[service] = throttling(service, rate=rate)
            self.proxy.add(self.randoms[service])

    def report(self, flow: str, stderr: str) -> dict[str, Any]:
        """Requests, throttles and trainctl retries of the flow; one line in the suite's table."""
        retries = [e for e in _events(stderr) if e.get("event") == "retry"]
        counts = {s: (f.requests, f.injected) for s, f in self.randoms.items() if f.requests}
        forced = sum(f.injected for f in self.proxy.faults if f not in self.randoms.values())
        top = max((int(e["attempt"]) for e in retries), default=0)
        text = ", ".join(f"{s} {n}/{t}" for s, (n, t) in counts.items())
        line = f"{flow:<30} {text}; +{forced} forced; {len(retries)} retries (highest attempt {top})"
        TABLES.setdefault(TABLE, []).append(line)
        return {"retries": retries, "counts": counts, "highest": top}


def _events(stderr: str) -> list[dict[str, Any]]:
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


@pytest.fixture
def chaos(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Chaos]:
    """A reset moto behind a fresh fault proxy (seeded: the same faults every run); fast trainctl retries."""
    moto_server.reset()
    proxy = FaultProxy(moto_server.url, seed=11).start()
    for name, value in {**moto_server.env(proxy.url), **CHAOS_RETRIES}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "TRAINCTL_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    aws.clear_clients()
    configure_logging("json", "info")
    yield Chaos(proxy, moto_server, capsys)
    proxy.stop()
    aws.clear_clients()


def test_monitor_reads_a_preemption_and_decides_to_relaunch_under_throttling(chaos: Chaos, tmp_path: Path) -> None:
    """Under 30% throttling a spot-preempted job always reads as preempted and is relaunched from its newest checkpoint."""
    job_id, bucket = "chaos-run-a1b2c3", "trainctl-chaos-run-a1b2c3"
    s3, ec2 = moto_client(chaos.server, "s3"), moto_client(chaos.server, "ec2")
    s3.create_bucket(Bucket=bucket)
    store = S3Store(f"s3://{bucket}", client=s3)
    for step, mtime in (("step-0001", 1000.0), ("step-0002", 2000.0)):
        (tmp_path / step).write_text(step)
        os.utime(tmp_path / step, (mtime, mtime))
        store.put_path(tmp_path / step, f"checkpoints/{step}")
    spot = {"MarketType": "spot", "SpotOptions": dict(compute.SPOT_OPTIONS)}
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags(job_id).items()]}]
    image = register_image(ec2)
    run = ec2.run_instances(
        ImageId=image, InstanceType="g5.xlarge", MinCount=1, MaxCount=1, InstanceMarketOptions=spot, TagSpecifications=spec
    )
    status = {"job_id": job_id, "state": "running", "updated_at": time.time() + 5, "newest_checkpoint": "step-0002"}
    s3.put_object(Bucket=bucket, Key="status.json", Body=json.dumps(status).encode())
    interrupt_spot(run["Instances"][0]["InstanceId"])
    record = JobRecord(
        job_id=job_id,
        name="chaos-run",
        team="vision",
        owner="alice@example.com",
        target="aws",
        state="running",
        created=time.time(),
        spec=parse_spec(STORED_SPEC).to_document(),  # as `up` stores it: normalized, every default written out
        outputs={"region": REGION, "bucket": bucket},
    )

    chaos.throttle("s3")
    target = AwsTarget()
    for _ in range(4):
        seen = target.observe(record)
        assert (seen.state, seen.reason) == ("stopped", monitor.PREEMPTED)
        decision = target.relaunch_decision(record)
        assert (decision.action, decision.preemptions) == ("relaunch", 1)
        assert decision.resume_from == f"s3://{bucket}/checkpoints/step-0002"
    stats = chaos.report("monitor observe + relaunch", chaos.capsys.readouterr().err)
    assert stats["retries"] and all({"attempt", "limit", "delay_s", "reason"} <= e.keys() for e in stats["retries"])


def test_artifact_sync_survives_throttled_s3(chaos: Chaos, tmp_path: Path) -> None:
    """Under 30% S3 throttling the Supervisor's checkpoints, outputs and final status land; a second machine resumes."""
    bucket = "trainctl-chaos-sync"
    s3 = moto_client(chaos.server, "s3")
    s3.create_bucket(Bucket=bucket)
    chaos.throttle("s3")

    def config(machine: str) -> AgentConfig:
        workdir = tmp_path / machine
        workdir.mkdir()
        (workdir / "train.py").write_text(THREE_STEP_TRAINER)
        return AgentConfig(
            job_id="chaos-sync-abc123",
            workdir=str(workdir),
            run=f"{sys.executable} train.py",
            store_url=f"s3://{bucket}/run",
            sync_interval_s=0.2,
            heartbeat_s=0.2,
            keep_last=2,
            grace_period_s=2.0,
        )

    assert Supervisor(config("machine-1"), S3Store(f"s3://{bucket}/run")).run() == 0
    second = config("machine-2")
    assert Supervisor(second, S3Store(f"s3://{bucket}/run")).run() == 0
    stats = chaos.report("artifact sync (2 machines)", chaos.capsys.readouterr().err)

    assert "resume from step-0002" in (Path(second.workdir) / ".trainctl" / "output.log").read_text()
    status = json.loads(s3.get_object(Bucket=bucket, Key="run/status.json")["Body"].read())
    assert (status["state"], status["newest_checkpoint"]) == ("succeeded", "step-0005")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="run/checkpoints/")["Contents"]
    assert sorted(o["Key"] for o in listed if o["Key"].endswith("weights.txt")) == [
        "run/checkpoints/step-0004/weights.txt",
        "run/checkpoints/step-0005/weights.txt",
    ]
    assert json.loads(s3.get_object(Bucket=bucket, Key="run/outputs/metrics.json")["Body"].read()) == {"loss": 0.1}
    assert stats["retries"] and stats["counts"]["s3"][1] > 0


def test_gc_finds_and_removes_leaks_under_throttling(chaos: Chaos) -> None:
    """Under 30% throttling gc finds exactly the deleted job's resources, removes them all, leaves the live job's."""
    ghost = plant(chaos.server, "ghost-job-abc123")
    live = plant(chaos.server, "live-job-def456")
    stacks = {live.job_id: StackFacts(live.job_id, [{"type": "pulumi:pulumi:Stack", "outputs": live.outputs()}], [])}
    chaos.throttle("tagging")
    findings = aws_findings(get_settings(), stacks, {})
    assert {(f.job_id, f.kind.removeprefix("leaked-aws-")) for f in findings} == {(ghost.job_id, k) for k in ALL_KINDS}
    for finding in findings:
        remove_aws(finding)
    stats = chaos.report("gc find + remove", chaos.capsys.readouterr().err)
    assert present(chaos.server, ghost) == dict.fromkeys(ALL_KINDS, False)
    assert present(chaos.server, live) == dict.fromkeys(ALL_KINDS, True)
    assert stats["retries"]


def test_cost_actual_is_right_under_throttling(cli, chaos: Chaos, trainctl_home: Path) -> None:
    """`trainctl cost --actual` (two Cost Explorer pages, both throttled at first) reports the right actuals."""
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86400))
    next_day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 4 * 86400))
    save_job(trainctl_home, "a-aaaaaa", start=ts(f"{day}T10:00"), hours=2, hourly=1.0)
    first = {"ResultsByTime": [ce_day(day, {("a-aaaaaa", "vision"): 0.5})], "NextPageToken": "page-2"}
    second = {"ResultsByTime": [ce_day(next_day, {("a-aaaaaa", "vision"): 1.75}, estimated=True)]}
    queue_cost_results(chaos.server, first, second)
    chaos.throttle("ce")
    result = cli("cost", "--actual", "-o", "json")
    stats = chaos.report("cost --actual", result.stderr)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["jobs"][0]["actual_usd"] == 2.25 and doc["cost_explorer_estimated"] is True
    assert stats["retries"] and all(e["operation"] == "Cost Explorer get_cost_and_usage" for e in stats["retries"])


def test_no_spot_capacity_goes_to_on_demand_not_to_retry(chaos: Chaos) -> None:
    """Under 30% EC2 throttling, no spot capacity is asked once per zone (never retried) and falls back to on-demand."""
    ec2 = moto_client(chaos.server, "ec2")
    image = register_image(ec2)
    template = ec2.create_launch_template(LaunchTemplateName="trainctl-chaos-cap", LaunchTemplateData={"ImageId": image})
    request = compute.LaunchRequest(
        job_id="chaos-cap-abc123",
        launch_template_id=template["LaunchTemplate"]["LaunchTemplateId"],
        launch_template_version="1",
        tags=tags("chaos-cap-abc123"),
        spot=True,
        on_demand_fallback=True,
        disk_gb=64,
    )
    zones = len(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"])
    chaos.proxy.add(fault_kinds.capacity())
    chaos.throttle("ec2")
    through_proxy = aws.client("ec2", region=REGION)
    run_client = aws.client("ec2", region=REGION, max_attempts=1)
    launched = compute.launch(through_proxy, request, run_client=run_client, sleep=lambda _: None)
    chaos.report("spot launch, no capacity", chaos.capsys.readouterr().err)
    assert launched.market == "on-demand"
    assert chaos.proxy.count("RunInstances", "capacity") == zones == len(launched.attempts)


def test_access_denied_fails_at_once_with_exit_5_naming_the_operation(cli, chaos: Chaos, trainctl_home: Path) -> None:
    """AccessDenied: `trainctl cost --actual` exits 5 after one request (no retry), naming the operation and a hint."""
    save_job(trainctl_home, "a-aaaaaa", start=time.time() - 86400, hours=1, hourly=1.0)
    message = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ce:GetCostAndUsage"
    chaos.proxy.add(denied("ce", json.dumps({"__type": "AccessDeniedException", "message": message}).encode()))
    started = time.monotonic()
    result = cli("cost", "--actual")
    elapsed = time.monotonic() - started
    TABLES.setdefault(TABLE, []).append(f"{'AccessDenied: cost --actual':<30} exit {result.exit_code} in {elapsed:.2f}s")
    assert result.exit_code == 5
    assert "error: Cost Explorer get_cost_and_usage" in result.stderr and "AccessDeniedException" in result.stderr
    assert "hint: the AWS identity in use lacks this permission" in result.stderr
    assert chaos.proxy.count("AWSInsightsIndexService.GetCostAndUsage") == 1
    assert '"event": "retry"' not in result.stderr


def test_access_denied_on_a_job_status_is_not_taken_for_a_running_job(chaos: Chaos) -> None:
    """The monitor raises AccessDenied after one request, naming the call and bucket, never "status unavailable"."""
    body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
    chaos.proxy.add(denied("s3", body, status=403, content_type="application/xml"))
    record = JobRecord(
        job_id="denied-run-abc123",
        name="denied-run",
        team="vision",
        owner="alice@example.com",
        target="aws",
        created=time.time(),
        outputs={"region": REGION, "bucket": "trainctl-denied-run-abc123"},
    )
    with pytest.raises(AccessDeniedError) as caught:
        AwsTarget().observe(record)
    assert caught.value.message.startswith(
        "reading the job's status (s3 GetObject) for bucket trainctl-denied-run-abc123: AccessDenied"
    )
    assert chaos.proxy.faults[0].injected == 1


@pytest.mark.engine
def test_access_denied_makes_gc_exit_5_naming_the_operation(cli, chaos: Chaos) -> None:
    """AccessDenied from the tagging API: `trainctl gc` exits 5 at once, naming the listing that was refused."""
    body = b'{"__type": "AccessDeniedException", "message": "not authorized to perform: tag:GetResources"}'
    chaos.proxy.add(denied("tagging", body))
    started = time.monotonic()
    result = cli("gc", "--dry-run")
    elapsed = time.monotonic() - started
    TABLES.setdefault(TABLE, []).append(f"{'AccessDenied: gc':<30} exit {result.exit_code} in {elapsed:.2f}s (engine included)")
    assert result.exit_code == 5
    assert "error: listing tagged resources (tagging GetResources) for region us-east-1: AccessDeniedException" in result.stderr
    assert chaos.proxy.faults[0].injected == 1
