"""One fate on AWS (moto): any node's spot interruption is the job's, and the whole group is relaunched."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import compute, names
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.targets.preemption import PREEMPTED
from orchestrator.testing.moto_server import MotoServer, interrupt_spot, register_image, shut_down
from tests.aws.conftest import record_for

pytestmark = pytest.mark.moto


class Group:
    """A 3-node spot job whose group runs in moto, with its record as `up` leaves it."""

    def __init__(self, compiled: CompiledJob) -> None:
        self.job_id = compiled.job_id
        self.bucket = names.bucket_name(compiled.job_id)
        self.s3, ec2 = aws.client("s3", region="us-east-1"), aws.client("ec2", region="us-east-1")
        self.s3.create_bucket(Bucket=self.bucket)
        data = {"ImageId": register_image(ec2), "InstanceType": "g5.12xlarge"}
        template = ec2.create_launch_template(LaunchTemplateName=f"trainctl-{self.job_id}", LaunchTemplateData=data)
        request = compute.LaunchRequest(
            job_id=self.job_id,
            launch_template_id=template["LaunchTemplate"]["LaunchTemplateId"],
            launch_template_version="1",
            tags=compiled.tags,
            spot=True,
            on_demand_fallback=True,
            disk_gb=64,
            count=3,
        )
        launched = compute.launch(ec2, request)
        self.nodes = launched.instance_ids
        outputs = {"bucket": self.bucket, "instance_id": self.nodes[0], "instance_ids": self.nodes, "nodes": 3}
        self.record = record_for(compiled, **outputs)

    def status(self, state: str, **fields: Any) -> None:
        """Rank 0's agent reports (its status is the job's)."""
        body = {"job_id": self.job_id, "state": state, "updated_at": time.time(), "started_at": time.time(), **fields}
        self.s3.put_object(Bucket=self.bucket, Key="status.json", Body=json.dumps(body).encode())


@pytest.fixture
def group(moto: MotoServer, make_job: Callable[..., CompiledJob]) -> Group:
    return Group(make_job(spot=True))


def test_running_group_reads_as_running(group: Group) -> None:
    """Every node live and rank 0 running: the job runs."""
    group.status("running")
    assert AwsTarget().observe(group.record).state == "running"


def test_a_worker_preempted_while_the_others_stop_then_the_job_is_preempted(group: Group) -> None:
    """Node 2's spot interruption: while nodes 0 and 1 still run (stopping with a checkpoint) the job reads running and
    says so; once they have shut down, the job is preempted and the decision is to relaunch the whole group."""
    group.status("running")
    interrupt_spot(group.nodes[2])
    stopping = AwsTarget().observe(group.record)
    assert stopping.state == "running" and stopping.reason == "node 2 preempted; node 0, 1 stopping"
    for survivor in group.nodes[:2]:
        shut_down(survivor)
    seen = AwsTarget().observe(group.record)
    assert (seen.state, seen.reason) == ("stopped", PREEMPTED)
    decision = AwsTarget().relaunch_decision(group.record)
    assert decision.action == "relaunch" and decision.preemptions == 1


def test_rank_zero_stopping_the_group_for_a_lost_node_is_a_preemption_when_a_node_was_reclaimed(group: Group) -> None:
    """Rank 0's agent stops the group when node 1 goes silent (reason node-lost); as EC2 reclaimed node 1, the job
    counts as preempted (relaunched within restarts.max_preemptions)."""
    interrupt_spot(group.nodes[1])
    group.status("stopped", reason="node-lost")
    seen = AwsTarget().observe(group.record)
    assert (seen.state, seen.reason) == ("stopped", PREEMPTED)


def test_preemptions_beyond_the_limit_give_up(group: Group) -> None:
    """A group preempted more often than restarts.max_preemptions (2 here) is given up, not relaunched."""
    interrupt_spot(group.nodes[0])
    seen = AwsTarget().relaunch_decision(group.record.model_copy(update={"preemptions": 2}))
    assert seen.action == "give-up"


def test_a_group_that_finished_is_not_relaunched(group: Group) -> None:
    """Rank 0 reports success and the nodes shut down: no relaunch, whatever happened to a node afterwards."""
    group.status("succeeded", exit_code=0)
    for node in group.nodes:
        shut_down(node)
    seen = AwsTarget().observe(group.record)
    assert seen.state == "succeeded"
    assert AwsTarget().relaunch_decision(group.record).action == "none"


def test_status_shows_every_node(group: Group) -> None:
    """The observation carries each node's own view in rank order: its status, or its instance's end."""
    group.status("running")
    body = {"job_id": group.job_id, "state": "running", "updated_at": time.time(), "started_at": time.time()}
    group.s3.put_object(Bucket=group.bucket, Key="nodes/1/status.json", Body=json.dumps(body).encode())
    interrupt_spot(group.nodes[2])
    seen = AwsTarget().observe(group.record)
    assert [view.rank for view in seen.nodes] == [0, 1, 2]
    assert [view.seen.state for view in seen.nodes] == ["running", "running", "stopped"]
    assert seen.nodes[2].seen.reason == PREEMPTED
