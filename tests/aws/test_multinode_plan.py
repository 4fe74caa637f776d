"""The offline plan of a multi-node AWS job: one placement group, one group of N instances, a security group that
admits only its own members, EFA where the type has it, every node listed, N x the price, policies on the group."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from orchestrator.targets.aws import efa, names

SPEC = """\
name: mn-plan
team: vision
owner: alice@example.com
target: aws
resources:
  instance_type: {instance_type}
  nodes: {nodes}
  spot: {spot}
  region: us-east-1
code:
  run: torchrun --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR --master_port=$MASTER_PORT train.py
limits:
  max_runtime: 2h
"""
DYNAMIC = "pulumi-python:dynamic:Resource"


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """An offline plan needs no AWS credentials: none are available."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def _spec(tmp_path: Path, *, nodes: int, instance_type: str = "g5.12xlarge", spot: bool = True) -> str:
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    (directory / "train.py").write_text("print('train')\n")
    path = directory / "job.yaml"
    path.write_text(SPEC.format(instance_type=instance_type, nodes=nodes, spot=str(spot).lower()))
    return str(path)


def _plan(cli: Any, tmp_path: Path, **spec: Any) -> dict[str, Any]:
    result = cli("plan", _spec(tmp_path, **spec), "--offline", "--output", "json")
    assert result.exit_code == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    return plan


def _of_type(plan: dict[str, Any], typ: str, name: str | None = None) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == typ and name in (None, r["name"])]


def test_four_node_spot_plan_is_one_placement_group_one_group_of_four_and_no_open_ingress(cli, tmp_path: Path) -> None:
    """4-node spot g5.12xlarge: one cluster placement group, one instance group of 4 in it (spot, falling back as a
    whole), a security group whose only ingress is a self-referencing all-traffic rule, nothing open to 0.0.0.0/0."""
    plan = _plan(cli, tmp_path, nodes=4)
    [placement] = _of_type(plan, "aws:ec2/placementGroup:PlacementGroup")
    assert placement["inputs"]["strategy"] == "cluster"
    [group] = _of_type(plan, DYNAMIC, "instance")
    inputs = group["inputs"]
    assert int(inputs["count"]) == 4 and inputs["placement_group"] == placement["inputs"]["name"]
    assert inputs["market"] == "spot" and inputs["on_demand_fallback"] is True
    assert "placement-group" in group["depends_on"]
    [security] = _of_type(plan, "aws:ec2/securityGroup:SecurityGroup")
    [ingress] = security["inputs"]["ingress"]
    assert ingress["self"] is True and ingress["protocol"] == "-1"
    assert not ingress.get("cidrBlocks") and not ingress.get("ipv6CidrBlocks")
    assert any(rule.get("self") for rule in security["inputs"]["egress"])
    assert not [r for r in plan["resources"] if "ingress" in r["type"].lower() or "securityGroupRule" in r["type"]]
    assert plan["policy"]["violations"] == [] and plan["policy"]["blocked"] is False


def test_four_node_estimate_is_four_times_one_node(cli, tmp_path: Path) -> None:
    """The 4-node plan's hourly price, its maximum and its on-demand fallback are 4 x the 1-node plan's."""
    one, four = _plan(cli, tmp_path, nodes=1), _plan(cli, tmp_path, nodes=4)
    for key in ("estimate", "estimate_if_fallback"):
        assert four[key]["hourly_usd"] == pytest.approx(4 * one[key]["hourly_usd"], rel=1e-6)
        assert four[key]["max_usd"] == pytest.approx(4 * one[key]["max_usd"], rel=1e-5)
    assert four["estimate"]["lines"][0]["quantity"] == 4


def test_plan_lists_every_node(cli, tmp_path: Path) -> None:
    """The plan names each of the 4 nodes (rank 0 the rendezvous) with its instance, root volume and EFA interface,
    in JSON and in text."""
    nodes = _plan(cli, tmp_path, nodes=4)["preflight"]["nodes"]
    assert [n["rank"] for n in nodes] == [0, 1, 2, 3]
    assert {(n["instance_type"], n["network_interface"], n["root_volume_gb"]) for n in nodes} == {("g5.12xlarge", "EFA", 75)}
    assert "MASTER_ADDR" in nodes[0]["role"] and nodes[3]["role"] == "worker"
    text = cli("plan", _spec(tmp_path, nodes=4), "--offline")
    assert text.exit_code == 0, text.stderr
    assert "nodes: 4, launched together in one cluster placement group" in text.stdout
    for rank in range(4):
        assert f"  node {rank}: g5.12xlarge spot" in text.stdout


def test_efa_type_gets_an_efa_interface_and_others_a_notice(cli, tmp_path: Path) -> None:
    """g5.12xlarge (EFA): the template's interface is EFA in the job's security group and the launch names that group;
    g5.xlarge (no EFA): security groups on the instance, and a notice saying the nodes talk over TCP."""
    with_efa = _plan(cli, tmp_path, nodes=2)
    [template] = _of_type(with_efa, "aws:ec2/launchTemplate:LaunchTemplate")
    [interface] = template["inputs"]["networkInterfaces"]
    assert interface["interfaceType"] == "efa" and int(interface["deviceIndex"]) == 0 and interface["securityGroups"]
    assert "vpcSecurityGroupIds" not in template["inputs"]
    assert _of_type(with_efa, DYNAMIC, "instance")[0]["inputs"]["efa_security_group"] == interface["securityGroups"][0]
    without = _plan(cli, tmp_path, nodes=2, instance_type="g5.xlarge")
    [template] = _of_type(without, "aws:ec2/launchTemplate:LaunchTemplate")
    assert "networkInterfaces" not in template["inputs"] and template["inputs"]["vpcSecurityGroupIds"]
    assert "efa_security_group" not in _of_type(without, DYNAMIC, "instance")[0]["inputs"]
    assert any("g5.xlarge has no EFA" in line for line in without["notices"])
    assert not efa.supports_efa("g5.xlarge") and efa.supports_efa("g5.12xlarge")


def test_one_node_job_is_planned_as_before(cli, tmp_path: Path) -> None:
    """nodes: 1 on an EFA type: no placement group, no EFA interface, no inbound rule, no node list."""
    plan = _plan(cli, tmp_path, nodes=1)
    assert _of_type(plan, "aws:ec2/placementGroup:PlacementGroup") == []
    [security] = _of_type(plan, "aws:ec2/securityGroup:SecurityGroup")
    assert security["inputs"]["ingress"] == []
    [template] = _of_type(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    assert "networkInterfaces" not in template["inputs"]
    assert "count" not in _of_type(plan, DYNAMIC, "instance")[0]["inputs"] and "nodes" not in plan["preflight"]


def test_every_node_boots_the_script_that_reads_its_rank_from_the_bucket(cli, tmp_path: Path) -> None:
    """The user data of a multi-node job waits for the node's configuration under its instance id and merges it into the
    agent's; a one-node job's script skips that."""
    [template] = _of_type(_plan(cli, tmp_path, nodes=2), "aws:ec2/launchTemplate:LaunchTemplate")
    script = base64.b64decode(template["inputs"]["userData"]).decode()
    assert "if [ 2 -gt 1 ]; then" in script and f'"{names.NODE_CONFIG_PREFIX}" + instance_id + ".json"' in script
    assert len(script.encode()) < 16384


def test_cost_policies_judge_the_whole_group(cli, tmp_path: Path) -> None:
    """With a team cap between one node's and four nodes' hourly price, `check` passes 1 node and refuses 4 (exit 3),
    naming the group's price."""
    one = _plan(cli, tmp_path, nodes=1, spot=False)["estimate"]["hourly_usd"]
    config = tmp_path / "policy.yaml"
    config.write_text(f"max-hourly-cost: {{maxUsd: {2 * one:.2f}}}\n")
    passed = cli("check", _spec(tmp_path, nodes=1, spot=False), "--policy-config", str(config))
    assert passed.exit_code == 0, passed.stderr
    blocked = cli("check", _spec(tmp_path, nodes=4, spot=False), "--policy-config", str(config))
    assert blocked.exit_code == 3, blocked.stderr
    assert "4 nodes of g5.12xlarge on-demand" in blocked.stdout + blocked.stderr


def test_max_nodes_refuses_a_group_above_the_cap(cli, tmp_path: Path) -> None:
    """17 nodes is above the shipped max-nodes cap of 16: `check` exits 3 naming the policy."""
    result = cli("check", _spec(tmp_path, nodes=17, instance_type="t3.micro", spot=False))
    assert result.exit_code == 3
    assert "max-nodes" in result.stdout + result.stderr
