"""`gc` and multi-node jobs (moto): every node of a live group is held by its stack; leaked nodes and a leaked
placement group are found by tag and removed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from orchestrator.gc.aws import NO_STACK, NOT_HELD, aws_findings
from orchestrator.gc.aws_removal import remove_aws
from orchestrator.gc.findings import StackFacts
from orchestrator.settings import get_settings
from orchestrator.testing.faults import JSON_CONTENT, Fault, FaultProxy
from orchestrator.testing.moto_server import MotoServer
from tests.reliability.test_gc_aws import plant, present

pytestmark = pytest.mark.moto
JOB_ID = "mn-gc-abc123"


def _group_stack(nodes: list[str]) -> StackFacts:
    """A stack whose instance group holds ``nodes`` (rank 0's id is the resource's id), as Pulumi state has it."""
    group = {
        "type": "pulumi-python:dynamic:Resource",
        "id": nodes[0],
        "outputs": {"instance_id": nodes[0], "instance_ids": nodes},
    }
    return StackFacts(JOB_ID, [group], [])


def test_every_node_of_a_live_group_is_held_and_a_dropped_group_is_removed(moto: MotoServer, trainctl_home: Path) -> None:
    """Both nodes of a running 2-node job are live (its stack holds them all); once the stack no longer holds them, both
    are leaks, and removing them terminates both."""
    nodes = [plant(moto, JOB_ID, kinds=("instance",)) for _ in range(2)]
    ids = [n.ids["instance"] for n in nodes]
    assert aws_findings(get_settings(), {JOB_ID: _group_stack(ids)}, {}) == []
    emptied = StackFacts(JOB_ID, [{"type": "pulumi:pulumi:Stack", "outputs": {}}], [])
    findings = aws_findings(get_settings(), {JOB_ID: emptied}, {})
    assert sorted(f.resource.rsplit("/", 1)[-1] for f in findings) == sorted(ids)
    assert {(f.kind, f.detail) for f in findings} == {("leaked-aws-instance", NOT_HELD)}
    for finding in findings:
        remove_aws(finding)
    assert [present(moto, n) for n in nodes] == [{"instance": False}, {"instance": False}]


def test_a_leaked_placement_group_is_found_by_tag_and_deleted(faults: FaultProxy, trainctl_home: Path) -> None:
    """A placement group tagged for a job with no stack is a leak; removing it deletes it by name. (moto has no placement
    groups: the proxy answers the tagging listing and the deletion as EC2 would, and records the request.)"""
    name = f"trainctl-{JOB_ID}"
    arn = f"arn:aws:ec2:us-east-1:123456789012:placement-group/{name}"
    tags = [{"Key": "trainctl:managed-by", "Value": "trainctl"}, {"Key": "trainctl:job-id", "Value": JOB_ID}]
    listing = json.dumps({"ResourceTagMappingList": [{"ResourceARN": arn, "Tags": tags}], "PaginationToken": ""}).encode()
    faults.add(Fault("GetResources", "canned", body=listing, content_type=JSON_CONTENT))
    [finding] = aws_findings(get_settings(), {}, {})
    assert (finding.kind, finding.resource, finding.detail) == ("leaked-aws-placement-group", arn, NO_STACK)
    deletions: list[dict[str, list[str]]] = []

    def record(body: bytes) -> bool:
        deletions.append(parse_qs(body.decode()))
        return True

    answer = b'<DeletePlacementGroupResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><return>true</return></DeletePlacementGroupResponse>'
    faults.add(Fault("DeletePlacementGroup", "canned", when=record, body=answer))
    remove_aws(finding)
    assert finding.removed and [d["GroupName"] for d in deletions] == [[name]]
