"""Every AWS call trainctl makes in its moto-backed flows is granted by the IAM policy docs/aws.md prints.

Each flow runs with a listener on the clients built in ``orchestrator.cloud.aws``; every call heard,
``service:Operation``, is mapped to its IAM action and checked against ``deployer_policy()`` (CLI-side
calls) or ``instance_policy()`` (the agent on the instance). A new call in any of these flows that the
policy lacks fails here, not on a real account. moto lacks Service Quotas, Pricing and the public AMI
parameter: the fault proxy answers those.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.compile import CompiledJob
from orchestrator.gc.aws import aws_findings
from orchestrator.gc.aws_removal import remove_aws
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.targets.aws import iam, names
from orchestrator.targets.aws.bootstrap import AMI_PARAMETERS
from orchestrator.targets.aws.instance import TrainingInstanceProvider
from orchestrator.targets.aws.program import existing_storage
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import Fault, FaultProxy
from orchestrator.testing.moto_server import register_image
from tests.aws.conftest import record_for
from tests.aws.iam_actions import allowed, iam_action
from tests.aws.test_least_privilege import findings_above_low
from tests.aws.test_preflight import SPEC as PREFLIGHT_SPEC
from tests.conftest import REPO
from tests.cost.conftest import ce_day, queue_cost_results, save_job
from tests.reliability.test_gc_aws import plant

pytestmark = pytest.mark.moto
REGION = "us-east-1"
JSON_API = "application/x-amz-json-1.1"
GPU_PARAMETER = AMI_PARAMETERS[("gpu", "x86_64")]
# The services the flows below call (the tripwire test compares this with the clients the code builds).
FLOW_SERVICES = {"ec2", "ssm", "service-quotas", "s3", "logs", "sts", "iam", "resourcegroupstaggingapi", "pricing", "ce"}


@pytest.fixture
def heard() -> Iterator[set[str]]:
    """The IAM actions of every call made by trainctl's clients during the test."""
    actions: set[str] = set()
    with aws.listening(lambda service, operation: actions.update(iam_action(service, operation))):
        yield actions


def _denied(actions: set[str], policy: dict[str, Any]) -> list[str]:
    return sorted(action for action in actions if not allowed(policy, action))


def _gpu_image(faults: FaultProxy) -> str:
    image = register_image(aws.client("ec2", region=REGION), name="dlami-base-oss-al2023")
    faults.add(fault_kinds.ssm_parameter(GPU_PARAMETER, image))
    faults.add(fault_kinds.image(image, snapshot_gb=75))
    return image


def test_preflight_calls_are_granted(faults: FaultProxy, tmp_path: Path, heard: set[str]) -> None:
    """`plan`/`up`'s preflight (zones, image snapshot, vCPU quotas) calls only what the deployer policy grants."""
    _gpu_image(faults)
    faults.add(fault_kinds.service_quota("L-DB2E81BA", 64, "Running On-Demand G and VT instances"))
    faults.add(fault_kinds.service_quota("L-3819A6DF", 64, "All G and VT Spot Instance Requests"))
    spec = tmp_path / "job.yaml"
    spec.write_text(PREFLIGHT_SPEC.format(instance_type="g5.xlarge", nodes=1, spot="true", fallback="true"))
    (tmp_path / "train.py").write_text("print('hi')\n")
    heard.clear()  # the image was registered for the test, not by trainctl
    AwsTarget().preflight(load_spec(spec), region=REGION, offline=False)
    assert {"servicequotas:GetServiceQuota", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeImages"} <= heard
    assert _denied(heard, iam.deployer_policy()) == []


def test_launch_and_teardown_calls_are_granted(faults: FaultProxy, make_job: Callable[..., CompiledJob], heard: set[str]) -> None:
    """`up`'s storage check, the instance launch from its template (spot, image sized) and its termination are granted."""
    job = make_job()
    ec2 = aws.client("ec2", region=REGION)
    data = {"ImageId": _gpu_image(faults), "InstanceType": "g5.xlarge"}
    template = ec2.create_launch_template(LaunchTemplateName="trainctl-iam", LaunchTemplateData=data)["LaunchTemplate"]
    heard.clear()  # the template is Pulumi's to create (through the AWS provider), not a trainctl call
    existing_storage(job, None)
    props = {
        "launch_template_id": template["LaunchTemplateId"],
        "launch_template_version": "1",
        "market": "spot",
        "on_demand_fallback": True,
        "disk_gb": 50,
        "image": f"resolve:ssm:{GPU_PARAMETER}",
        "instance_type": "g5.xlarge",
        "region": REGION,
        "tags": {"trainctl:job-id": job.job_id, "trainctl:managed-by": "trainctl"},
    }
    provider = TrainingInstanceProvider()
    created = provider.create(props)
    provider.update(created.id, created.outs, {**created.outs, "tags": {**props["tags"], "trainctl:team": "nlp"}})
    provider.read(created.id, created.outs)
    provider.delete(created.id, created.outs)
    assert {"ec2:RunInstances", "ec2:TerminateInstances", "s3:ListBucket", "logs:DescribeLogGroups"} <= heard
    assert _denied(heard, iam.deployer_policy()) == []


def test_multi_node_launch_calls_are_granted(faults: FaultProxy, make_job: Callable[..., CompiledJob], heard: set[str]) -> None:
    """A 2-node group's launch, the nodes' configuration written to the bucket, and the group's termination are granted."""
    job = make_job()
    ec2 = aws.client("ec2", region=REGION)
    data = {"ImageId": _gpu_image(faults), "InstanceType": "g5.12xlarge"}
    template = ec2.create_launch_template(LaunchTemplateName="trainctl-iam-mn", LaunchTemplateData=data)["LaunchTemplate"]
    aws.client("s3", region=REGION).create_bucket(Bucket=names.bucket_name(job.job_id))
    heard.clear()  # template and bucket are Pulumi's to create
    props = {
        "launch_template_id": template["LaunchTemplateId"],
        "launch_template_version": "1",
        "market": "on-demand",
        "disk_gb": 75,
        "instance_type": "g5.12xlarge",
        "region": REGION,
        "tags": {"trainctl:job-id": job.job_id, "trainctl:managed-by": "trainctl"},
        "count": 2,
        "placement_group": names.resource_name(job.job_id),
        "bucket": names.bucket_name(job.job_id),
        "master_port": names.MASTER_PORT,
    }
    provider = TrainingInstanceProvider()
    created = provider.create(props)
    provider.read(created.id, created.outs)
    provider.delete(created.id, created.outs)
    assert {"ec2:RunInstances", "s3:PutObject", "ec2:TerminateInstances"} <= heard
    assert _denied(heard, iam.deployer_policy()) == []


def test_observe_logs_and_purge_calls_are_granted(moto: Any, make_job: Callable[..., CompiledJob], heard: set[str]) -> None:
    """`status`, `logs` and `down --purge` on a job whose bucket and log group hold output call only granted actions."""
    job = make_job()
    bucket, group = names.bucket_name(job.job_id), names.log_group_name(job.job_id)
    planted = aws.client("s3", region=REGION, endpoint_url=moto.url)
    planted.create_bucket(Bucket=bucket)
    planted.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    planted.put_object(Bucket=bucket, Key="checkpoints/step-0001/weights.bin", Body=b"w")
    writer = aws.client("logs", region=REGION, endpoint_url=moto.url)
    writer.create_log_group(logGroupName=group)
    writer.create_log_stream(logGroupName=group, logStreamName="output-i-1")
    writer.put_log_events(
        logGroupName=group, logStreamName="output-i-1", logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}]
    )
    heard.clear()  # planted as the instance would: judged below, not here
    target, record = AwsTarget(), record_for(job)
    target.observe(record)
    target.relaunch_decision(record)
    target.read_log(record, 0)
    target.purge(record)
    assert {"s3:DeleteBucket", "logs:DeleteLogGroup", "logs:FilterLogEvents"} <= heard
    assert _denied(heard, iam.deployer_policy()) == []


def test_gc_calls_are_granted(moto: Any, trainctl_home: Path, heard: set[str]) -> None:
    """`gc` finding leaked resources of every kind by tag and removing them calls only granted actions."""
    planted = plant(moto, "ghost-job-abc123")
    heard.clear()
    findings = aws_findings(get_settings(), {}, {})
    for finding in findings:
        remove_aws(finding)
    assert {f.job_id for f in findings} == {planted.job_id} and all(f.removed for f in findings)
    assert {"tag:GetResources", "iam:DeleteRole", "ec2:TerminateInstances"} <= heard
    assert _denied(heard, iam.deployer_policy()) == []


def test_cost_actual_and_activate_tags_calls_are_granted(cli, moto: Any, trainctl_home: Path, heard: set[str]) -> None:
    """`cost --actual` (Cost Explorer) and `cost activate-tags` call only actions the reporting policy grants."""
    save_job(trainctl_home, "a-aaaaaa", start=time.time() - 5 * 86400, hours=2)
    queue_cost_results(
        moto, {"ResultsByTime": [ce_day("2026-11-01", {("a-aaaaaa", "vision"): 2.5})], "DimensionValueAttributes": []}
    )
    proxy = FaultProxy(moto.url).start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ENDPOINT_URL", proxy.url)
            aws.clear_clients()
            body = b'{"Errors": []}'
            proxy.add(Fault("UpdateCostAllocationTagsStatus", "canned", status=200, body=body, content_type=JSON_API))
            assert cli("cost", "--actual", "-o", "json").exit_code == 0
            assert cli("cost", "activate-tags").exit_code == 0
    finally:
        proxy.stop()
        aws.clear_clients()
    assert {"ce:GetCostAndUsage", "ce:UpdateCostAllocationTagsStatus"} <= heard
    assert _denied(heard, iam.reporting_policy()) == []


def test_prices_refresh_calls_are_granted(cli, faults: FaultProxy, heard: set[str]) -> None:
    """`prices refresh` (Pricing GetProducts, EC2 spot price history) calls only what the reporting policy grants."""
    item = {
        "product": {},
        "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"unit": "Hrs", "pricePerUnit": {"USD": "1"}}}}}},
    }
    body = json.dumps({"PriceList": [json.dumps(item)], "FormatVersion": "aws_v1"}).encode()
    faults.add(Fault("GetProducts", "canned", status=200, body=body, content_type=JSON_API))
    result = cli("prices", "refresh", "--region", REGION, "--type", "g5.xlarge")
    assert result.exit_code == 0, result.stderr
    assert {"pricing:GetProducts", "ec2:DescribeSpotPriceHistory"} <= heard
    assert _denied(heard, iam.reporting_policy()) == []


def test_agent_calls_are_granted_by_the_instance_policy(moto: Any, tmp_path: Path, heard: set[str]) -> None:
    """The agent's artifact store (checkpoints up and down, listing, deletion) calls only what the job role grants."""
    from orchestrator.agent.s3store import S3Store

    bucket = "trainctl-iam-abc123"
    aws.client("s3", region=REGION).create_bucket(Bucket=bucket)
    heard.clear()
    store = S3Store(f"s3://{bucket}", region=REGION)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "weights.bin").write_bytes(b"w" * 1024)
    store.write_text("status.json", "{}")
    store.read_text("status.json")
    store.put_path(tmp_path / "ckpt", "checkpoints/step-1")
    store.list_dir("checkpoints/")
    store.get_path("checkpoints/step-1", tmp_path / "back")
    store.delete("checkpoints/step-1")
    policy = json.loads(iam.instance_policy(f"arn:aws:s3:::{bucket}", "arn:aws:logs:us-east-1:1:log-group:/trainctl/jobs/x"))
    assert {"s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:DeleteObject"} <= heard
    assert _denied(heard, policy) == []


def test_the_matcher_honours_wildcards_and_unconditional_denies() -> None:
    """`ec2:Describe*` grants ec2:DescribeImages; a Deny without condition overrides; a conditional one does not."""
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": ["ec2:Describe*", "iam:PassRole", "s3:GetObject"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    }
    assert allowed(policy, "ec2:DescribeImages") and allowed(policy, "s3:GetObject")
    assert not allowed(policy, "iam:PassRole") and not allowed(policy, "ec2:RunInstances")
    assert iam_action("s3", "HeadObject") == ["s3:GetObject"]
    assert iam_action("resourcegroupstaggingapi", "GetResources") == ["tag:GetResources"]


def test_every_service_trainctl_calls_has_a_flow_here() -> None:
    """The AWS services trainctl's code builds clients for are the ones this file's flows exercise: a new one needs a flow."""
    built = set()
    for path in (REPO / "orchestrator").rglob("*.py"):
        built.update(re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    assert built == FLOW_SERVICES


def test_reporting_policy_is_in_the_docs_and_passes_parliament() -> None:
    """docs/aws.md prints exactly reporting_policy(), and parliament finds nothing above low in it."""
    text = (REPO / "docs" / "aws.md").read_text()
    block = text.split("### The reporting policy", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    assert json.loads(block) == iam.reporting_policy()
    assert findings_above_low(json.dumps(iam.reporting_policy())) == []
