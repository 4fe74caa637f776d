"""A node of a multi-node job learns its rank and MASTER_ADDR at boot: the boot script's node step, run for real
against moto (the launch wrote the group's configuration) and a fake IMDSv2 (the instance's id)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.environment import node_contract
from orchestrator.cloud import aws
from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import bootstrap, names
from orchestrator.targets.aws.instance import TrainingInstanceProvider
from orchestrator.testing.imds import FakeImds
from orchestrator.testing.moto_server import MotoServer, register_image

pytestmark = pytest.mark.moto
IMDS = "http://169.254.169.254"


def _two_node_job(make_job: Callable[..., CompiledJob]) -> CompiledJob:
    job = make_job(instance_type="g5.12xlarge")
    resources = job.spec.resources.model_copy(update={"nodes": 2})
    return dataclasses.replace(job, spec=job.spec.model_copy(update={"resources": resources}))


def _node_step(job: CompiledJob, root: Path, imds: FakeImds) -> str:
    """The boot script's node step (the ``NODE`` here-document), pointed at the fake IMDS and a scratch root."""
    script = bootstrap.user_data(job, code_key="code/x.tar.gz", agent_key="agent/y.tar.gz")
    step = script.split("<<'NODE'\n", 1)[1].split("\nNODE\n", 1)[0]
    assert IMDS in step, "the step asks the instance metadata service"
    return step.replace(IMDS, imds.base).replace(names.REMOTE_ROOT, str(root))


def _launch_group(job: CompiledJob) -> tuple[list[str], list[str]]:
    ec2, s3 = aws.client("ec2", region="us-east-1"), aws.client("s3", region="us-east-1")
    s3.create_bucket(Bucket=names.bucket_name(job.job_id))
    data = {"ImageId": register_image(ec2), "InstanceType": "g5.12xlarge"}
    template = ec2.create_launch_template(LaunchTemplateName=f"trainctl-{job.job_id}", LaunchTemplateData=data)
    props = {
        "launch_template_id": template["LaunchTemplate"]["LaunchTemplateId"],
        "launch_template_version": "1",
        "market": "on-demand",
        "disk_gb": 75,
        "region": "us-east-1",
        "tags": job.tags,
        "count": 2,
        "placement_group": names.resource_name(job.job_id),
        "bucket": names.bucket_name(job.job_id),
        "master_port": names.MASTER_PORT,
    }
    outs = TrainingInstanceProvider().create(props).outs
    return outs["instance_ids"], outs["private_ips"]


@pytest.mark.parametrize("rank", [0, 1])
def test_each_node_completes_its_agent_config_from_the_bucket(
    moto: MotoServer, make_job: Callable[..., CompiledJob], imds: FakeImds, tmp_path: Path, rank: int
) -> None:
    """Node RANK reads its object under its instance id: the agent's config gets its rank, both addresses and the port,
    so its run sees MASTER_ADDR = rank 0's private address; node 1 logs under its own key and stream."""
    job = _two_node_job(make_job)
    nodes, addresses = _launch_group(job)
    config_path = tmp_path / "agent.json"
    config_path.write_text(json.dumps(dataclasses.asdict(bootstrap.agent_config(job))))
    imds.instance_id = nodes[rank].encode()
    step = _node_step(job, tmp_path, imds)
    result = subprocess.run([sys.executable, "-c", step], env=moto.env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    config = AgentConfig.from_file(config_path)
    assert (config.node_rank, config.num_nodes, config.node_addrs, config.launch_id) == (rank, 2, addresses, nodes[0])
    assert config.store_url == f"s3://{names.bucket_name(job.job_id)}"  # the rest of the config is kept
    contract = node_contract(config)
    assert contract["MASTER_ADDR"] == addresses[0] and contract["MASTER_PORT"] == str(names.MASTER_PORT)
    assert contract["NODE_RANK"] == str(rank) and contract["NNODES"] == "2"
    env = (tmp_path / "node.env").read_text()
    if rank:
        assert env == "OUTPUT_KEY=nodes/1/output.log\nOUTPUT_STREAM=node1-output-\n"
    else:
        assert env == "OUTPUT_KEY=logs/output.log\n"
