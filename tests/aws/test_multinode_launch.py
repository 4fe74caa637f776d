"""A multi-node job's group on moto (with the fault proxy): one market, one zone, one placement group, all or nothing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from orchestrator.cloud import aws
from orchestrator.errors import CapacityError, ExitCode, TrainctlError
from orchestrator.targets.aws import compute, names
from orchestrator.targets.aws.instance import PARTIAL, TrainingInstanceProvider
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import Fault, FaultProxy
from orchestrator.testing.moto_server import interrupt_spot, register_image

pytestmark = pytest.mark.moto
JOB_ID = "mn-launch-abc123"
TAGS = {
    "trainctl:job-id": JOB_ID,
    "trainctl:job-name": "mn-launch",
    "trainctl:team": "vision",
    "trainctl:owner": "alice@example.com",
    "trainctl:managed-by": "trainctl",
}
PLACEMENT = f"trainctl-{JOB_ID}"


def _setup(ec2: Any, s3: Any) -> str:
    """A launch template and the job's bucket; returns the template id. (moto has no placement groups: it
    neither creates nor checks them, so the group's name is checked in the launch requests instead.)"""
    image = register_image(ec2)
    data = {"ImageId": image, "InstanceType": "g5.12xlarge", "MetadataOptions": {"HttpTokens": "required"}}
    template = ec2.create_launch_template(LaunchTemplateName=f"trainctl-{JOB_ID}", LaunchTemplateData=data)
    s3.create_bucket(Bucket=names.bucket_name(JOB_ID))
    return str(template["LaunchTemplate"]["LaunchTemplateId"])


def _launch_requests(faults: FaultProxy) -> list[dict[str, list[str]]]:
    """Every RunInstances request through the proxy, as parsed form fields (a fault that never answers)."""
    seen: list[dict[str, list[str]]] = []

    def record(body: bytes) -> bool:
        seen.append(parse_qs(body.decode()))
        return False

    faults.add(Fault("RunInstances", "slow", when=record))
    return seen


def _props(template_id: str, *, spot: bool = True, fallback: bool = True, nodes: int = 2, **changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "launch_template_id": template_id,
        "launch_template_version": "1",
        "market": "spot" if spot else "on-demand",
        "disk_gb": 64.0,
        "image_override": None,
        "region": "us-east-1",
        "endpoint_url": None,
        "tags": TAGS,
        "count": float(nodes),  # numbers reach a dynamic provider as floats
        "placement_group": PLACEMENT,
        "bucket": names.bucket_name(JOB_ID),
        "master_port": float(names.MASTER_PORT),
    }
    if spot:
        props.update(spot_options=dict(compute.SPOT_OPTIONS), on_demand_fallback=fallback)
    return {**props, **changes}


def _clients() -> tuple[Any, Any]:
    return aws.client("ec2", region="us-east-1"), aws.client("s3", region="us-east-1")


def _job_instances(ec2: Any, *states: str) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:trainctl:job-id", "Values": [JOB_ID]}]
    if states:
        filters.append({"Name": "instance-state-name", "Values": list(states)})
    reservations = ec2.describe_instances(Filters=filters)["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def _node_config(s3: Any, instance_id: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=names.bucket_name(JOB_ID), Key=names.node_config_key(instance_id))["Body"].read()
    config: dict[str, Any] = json.loads(body)
    return config


def test_group_launches_together_and_each_node_gets_its_rank_and_the_addresses(faults: FaultProxy) -> None:
    """A 2-node spot group is one RunInstances (MinCount=MaxCount=2) in the placement group; each node's
    configuration in the bucket names its rank, both private addresses (rank 0's first) and the port."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    requests = _launch_requests(faults)
    created = TrainingInstanceProvider().create(_props(template))
    outs = created.outs
    [request] = requests
    assert request["MinCount"] == request["MaxCount"] == ["2"]
    assert request["Placement.GroupName"] == [PLACEMENT] and request["InstanceMarketOptions.MarketType"] == ["spot"]
    assert outs["purchased"] == "spot" and len(outs["instance_ids"]) == 2 and created.id == outs["instance_ids"][0]
    instances = {i["InstanceId"]: i for i in _job_instances(ec2, "pending", "running")}
    assert set(instances) == set(outs["instance_ids"])
    assert {i.get("InstanceLifecycle") for i in instances.values()} == {"spot"}
    assert len({i["SubnetId"] for i in instances.values()}) == 1
    addresses = [instances[i]["PrivateIpAddress"] for i in outs["instance_ids"]]
    assert outs["private_ips"] == addresses
    for rank, instance_id in enumerate(outs["instance_ids"]):
        assert _node_config(s3, instance_id) == {
            "node_rank": rank,
            "num_nodes": 2,
            "node_addrs": addresses,
            "master_port": names.MASTER_PORT,
            "launch_id": outs["instance_ids"][0],
        }


def test_no_spot_room_for_the_group_falls_back_to_on_demand_as_a_whole(faults: FaultProxy) -> None:
    """EC2 cannot place the group's nodes on spot in any zone (a shortage of one node refuses the group):
    the whole group launches on-demand, and no spot instance is left behind."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    zones = len(compute.default_subnets(ec2))
    faults.add(fault_kinds.capacity())
    requests = _launch_requests(faults)
    created = TrainingInstanceProvider().create(_props(template))
    assert created.outs["purchased"] == "on-demand"
    assert faults.count("RunInstances", "capacity") == zones
    [on_demand] = requests  # the proxy answered the spot attempts itself; this one reached EC2
    assert on_demand["MinCount"] == ["2"] and "InstanceMarketOptions.MarketType" not in on_demand
    assert on_demand["Placement.GroupName"] == [PLACEMENT]
    alive = _job_instances(ec2)
    assert sorted(i["InstanceId"] for i in alive) == sorted(created.outs["instance_ids"])
    assert [i.get("InstanceLifecycle") for i in alive] == [None, None]


def test_no_spot_room_without_fallback_fails_cleanly(faults: FaultProxy) -> None:
    """With on_demand_fallback off, the group fails with a capacity error (exit 5, the hint names fewer nodes);
    no instance exists."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    faults.add(fault_kinds.capacity())
    with pytest.raises(CapacityError) as caught:
        TrainingInstanceProvider().create(_props(template, fallback=False))
    assert caught.value.exit_code == ExitCode.CLOUD
    assert "on_demand_fallback" in (caught.value.hint or "") and "resources.nodes" in (caught.value.hint or "")
    assert _job_instances(ec2) == []


def test_a_group_that_cannot_learn_its_ranks_is_terminated(faults: FaultProxy) -> None:
    """When the nodes' configuration cannot be written (the bucket is gone), the create fails and every node it
    launched is terminated: no instance outlives a failed create."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    with pytest.raises(TrainctlError) as caught:
        TrainingInstanceProvider().create(_props(template, bucket="trainctl-no-such-bucket"))
    assert "rank" in caught.value.message and caught.value.context.get("bucket") == "trainctl-no-such-bucket"
    launched = _job_instances(ec2)
    assert len(launched) == 2
    assert {i["State"]["Name"] for i in launched} == {"terminated"}


def test_a_group_that_lost_a_node_is_replaced_as_a_whole(faults: FaultProxy) -> None:
    """One node's spot interruption: read keeps the group but marks it partial, the next update replaces it, and
    delete terminates every node; when all nodes are gone, read reports the group gone."""
    ec2, s3 = _clients()
    provider = TrainingInstanceProvider()
    props = _props(_setup(ec2, s3), nodes=3)
    created = provider.create(props)
    lost = created.outs["instance_ids"][1]
    assert provider.read(created.id, created.outs).outs["state"] != PARTIAL
    interrupt_spot(lost)
    partial = provider.read(created.id, created.outs)
    assert partial.id == created.id and partial.outs["state"] == PARTIAL and partial.outs["ended"] == [lost]
    diff = provider.diff(created.id, partial.outs, props)
    assert diff.changes and "instance_ids" in diff.replaces and diff.delete_before_replace
    provider.delete(created.id, partial.outs)
    assert {i["State"]["Name"] for i in _job_instances(ec2)} == {"terminated"}
    assert provider.read(created.id, partial.outs).id is None


def test_efa_group_carries_its_subnet_on_the_efa_interface(faults: FaultProxy) -> None:
    """On an EFA type the launch's one interface is EFA, in the job's security group, with the zone's subnet on it
    (no instance-level subnet beside it, which EC2 refuses); every node gets its address."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    group = ec2.create_security_group(GroupName=f"trainctl-{JOB_ID}", Description="job")["GroupId"]
    requests = _launch_requests(faults)
    created = TrainingInstanceProvider().create(_props(template, spot=False, efa_security_group=group))
    [request] = requests
    assert request["NetworkInterface.1.InterfaceType"] == ["efa"]
    assert request["NetworkInterface.1.SecurityGroupId.1"] == [group]
    assert request["NetworkInterface.1.SubnetId"] == [created.outs["subnet_id"]] and "SubnetId" not in request
    assert len(created.outs["private_ips"]) == 2 and all(created.outs["private_ips"])


def test_another_node_count_is_another_group() -> None:
    """A changed node count (or placement group) replaces the group, deleting the old one first; a one-node job's
    state, written without a count, is unchanged by a program that sets none."""
    provider = TrainingInstanceProvider()
    olds = _props("lt-1", nodes=2)
    assert provider.diff("i-1", olds, {**olds, "count": 4.0}).replaces == ["count"]
    assert provider.diff("i-1", olds, {**olds, "placement_group": "trainctl-other"}).replaces == ["placement_group"]
    single = {"launch_template_id": "lt-1", "launch_template_version": "1", "market": "spot", "tags": TAGS}
    assert provider.diff("i-1", single, dict(single)).changes is False


class _OneShortOnSpot:
    """EC2 as if spot had room for all nodes but one: a spot launch starts one instance fewer than asked (what a
    launch with a lower MinCount would get); on-demand launches pass unchanged. Everything else is moto's."""

    def __init__(self, ec2: Any) -> None:
        self.ec2 = ec2

    def run_instances(self, **params: Any) -> Any:
        if "InstanceMarketOptions" in params:
            params = {**params, "MinCount": params["MinCount"] - 1, "MaxCount": params["MaxCount"] - 1}
        return self.ec2.run_instances(**params)


def test_spot_short_of_one_node_falls_back_as_a_whole_and_leaves_no_spot_node(faults: FaultProxy) -> None:
    """Spot has room for only one of the two nodes in every zone: each partial spot launch is terminated at once, the
    whole group launches on-demand, and no spot instance is left running."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    zones = len(compute.default_subnets(ec2))
    request = compute.LaunchRequest(JOB_ID, template, "1", TAGS, spot=True, on_demand_fallback=True, disk_gb=64, count=2)
    launched = compute.launch(ec2, request, run_client=_OneShortOnSpot(aws.client("ec2", region="us-east-1", max_attempts=1)))
    assert launched.market == "on-demand" and len(launched.instance_ids) == 2
    assert len(launched.attempts) == zones and all("PartialGroup" in a for a in launched.attempts)
    running = _job_instances(ec2, "pending", "running")
    assert sorted(i["InstanceId"] for i in running) == sorted(launched.instance_ids)
    assert all(i.get("InstanceLifecycle") is None for i in running)
    spot = [i for i in _job_instances(ec2) if i.get("InstanceLifecycle") == "spot"]
    assert len(spot) == zones and {i["State"]["Name"] for i in spot} == {"terminated"}


def test_spot_short_of_one_node_without_fallback_fails_and_leaves_nothing(faults: FaultProxy) -> None:
    """The same shortage with on_demand_fallback off: a capacity error, and every partial spot launch terminated."""
    ec2, s3 = _clients()
    template = _setup(ec2, s3)
    request = compute.LaunchRequest(JOB_ID, template, "1", TAGS, spot=True, on_demand_fallback=False, disk_gb=64, count=2)
    with pytest.raises(CapacityError):
        compute.launch(ec2, request, run_client=_OneShortOnSpot(aws.client("ec2", region="us-east-1", max_attempts=1)))
    assert _job_instances(ec2, "pending", "running") == []
