"""Launching the job's instance (moto, with the fault proxy): markets, zones, fallback, tags, lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.errors import CapacityError, ExitCode
from orchestrator.targets.aws import compute
from orchestrator.targets.aws.instance import TrainingInstanceProvider
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.moto_server import MotoServer, interrupt_spot, register_image
from tests.aws.conftest import launch_request

pytestmark = pytest.mark.moto
TAGS = {
    "trainctl:job-id": "launch-test-abc123",
    "trainctl:job-name": "launch-test",
    "trainctl:team": "vision",
    "trainctl:owner": "alice@example.com",
    "trainctl:managed-by": "trainctl",
}


def _template(ec2: Any) -> str:
    image = register_image(ec2)
    data = {"ImageId": image, "InstanceType": "g5.xlarge", "MetadataOptions": {"HttpTokens": "required"}}
    return str(
        ec2.create_launch_template(LaunchTemplateName="trainctl-launch-test", LaunchTemplateData=data)["LaunchTemplate"][
            "LaunchTemplateId"
        ]
    )


def _request(template_id: str, *, spot: bool, fallback: bool = True) -> compute.LaunchRequest:
    request: compute.LaunchRequest = launch_request(template_id, tags=TAGS, spot=spot, on_demand_fallback=fallback)
    return request


def _clients() -> tuple[Any, Any]:
    return aws.client("ec2", region="us-east-1"), aws.client("ec2", region="us-east-1", max_attempts=1)


def _instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    return dict(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def test_on_demand_launch_tags_instance_and_volume(moto: MotoServer) -> None:
    """An on-demand launch from the template carries every job tag on the instance and its volume."""
    ec2, run = _clients()
    launched = compute.launch(ec2, _request(_template(ec2), spot=False), run_client=run)
    assert launched.market == "on-demand" and launched.attempts == []
    instance = _instance(ec2, launched.instance_id)
    assert "InstanceLifecycle" not in instance
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags.items() >= TAGS.items() and tags["Name"] == "trainctl-launch-test-abc123"
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [launched.instance_id]}])["Volumes"]
    assert volumes and all({t["Key"]: t["Value"] for t in v.get("Tags", [])}.items() >= TAGS.items() for v in volumes)


def test_spot_launch_asks_for_a_one_time_terminating_spot_instance(faults: FaultProxy) -> None:
    """With spot and capacity available, the instance is spot and no fallback happens."""
    ec2, run = _clients()
    launched = compute.launch(ec2, _request(_template(ec2), spot=True), run_client=run)
    assert launched.market == "spot"
    assert _instance(ec2, launched.instance_id)["InstanceLifecycle"] == "spot"
    assert faults.count("RunInstances") == 1


def test_no_spot_capacity_anywhere_falls_back_to_on_demand(faults: FaultProxy) -> None:
    """InsufficientInstanceCapacity for spot in every zone leads to one on-demand launch."""
    ec2, run = _clients()
    template = _template(ec2)
    zones = len(compute.default_subnets(ec2))
    faults.add(fault_kinds.capacity())
    launched = compute.launch(ec2, _request(template, spot=True), run_client=run)
    assert launched.market == "on-demand"
    assert faults.count("RunInstances", "capacity") == zones
    assert len(launched.attempts) == zones and all("InsufficientInstanceCapacity" in a for a in launched.attempts)
    assert "InstanceLifecycle" not in _instance(ec2, launched.instance_id)


def test_no_spot_capacity_in_one_zone_tries_the_next_zone(faults: FaultProxy) -> None:
    """A capacity answer in the first zone moves spot to the next zone before any on-demand."""
    ec2, run = _clients()
    template = _template(ec2)
    subnets = compute.default_subnets(ec2)
    faults.add(fault_kinds.capacity(times=1))
    launched = compute.launch(ec2, _request(template, spot=True), run_client=run)
    assert launched.market == "spot" and launched.subnet_id == subnets[1]


def test_spot_without_fallback_fails_with_a_capacity_error(faults: FaultProxy) -> None:
    """With on_demand_fallback off, no capacity is a CapacityError (exit 5) that says how to allow on-demand."""
    ec2, run = _clients()
    template = _template(ec2)
    faults.add(fault_kinds.capacity())
    with pytest.raises(CapacityError) as caught:
        compute.launch(ec2, _request(template, spot=True, fallback=False), run_client=run)
    assert caught.value.exit_code == ExitCode.CLOUD and not caught.value.retryable
    assert "on_demand_fallback" in (caught.value.hint or "")
    assert caught.value.context["code"] == "InsufficientInstanceCapacity"
    running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert running["Reservations"] == []


def test_throttled_launches_are_retried(faults: FaultProxy) -> None:
    """RequestLimitExceeded on RunInstances is retried with backoff, then the launch succeeds."""
    ec2, run = _clients()
    template = _template(ec2)
    faults.add(fault_kinds.throttle("RunInstances", times=2))
    pauses: list[float] = []
    launched = compute.launch(ec2, _request(template, spot=False), run_client=run, sleep=pauses.append)
    assert launched.market == "on-demand"
    assert pauses == [2.0, 4.0]
    assert faults.count("RunInstances", "throttle") == 2


def test_dynamic_provider_reads_a_preempted_instance_as_gone_and_terminates_on_delete(moto: MotoServer) -> None:
    """create launches; read sees it live, then gone after a spot interruption; delete terminates and waits."""
    ec2, _ = _clients()
    props = {
        "launch_template_id": _template(ec2),
        "launch_template_version": "1",
        "market": "spot",
        "spot_options": dict(compute.SPOT_OPTIONS),
        "on_demand_fallback": True,
        "disk_gb": 64.0,
        "image_override": None,
        "region": "us-east-1",
        "endpoint_url": None,
        "tags": TAGS,
    }
    provider = TrainingInstanceProvider()
    created = provider.create(props)
    assert created.outs["purchased"] == "spot"
    assert provider.read(created.id, created.outs).id == created.id
    interrupt_spot(created.id)
    gone = provider.read(created.id, created.outs)
    assert gone.id is None
    second = provider.create(props)
    provider.delete(second.id, second.outs)
    assert _instance(ec2, second.id)["State"]["Name"] == "terminated"


def test_launch_template_change_replaces_the_instance() -> None:
    """A new template version (new user data, type or disk) replaces the instance; a tag change updates it."""
    provider = TrainingInstanceProvider()
    olds = {"launch_template_version": "1", "tags": TAGS, "market": "spot"}
    replaced = provider.diff("i-1", olds, {**olds, "launch_template_version": "2"})
    assert replaced.replaces == ["launch_template_version"] and replaced.delete_before_replace
    retagged = provider.diff("i-1", olds, {**olds, "tags": {**TAGS, "trainctl:owner": "bob@example.com"}})
    assert retagged.changes and not retagged.replaces
