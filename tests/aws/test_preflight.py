"""What `plan` and `up` check on AWS before allocating: root volume from the image, zones, vCPU quotas.

moto has no EC2 Service Quotas and no public DLAMI parameter: the fault proxy answers those with the
real APIs' shapes (and refusals), everything else is moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.errors import CloudError, ExitCode, InvalidInputError
from orchestrator.spec.loader import LoadedSpec, load_spec
from orchestrator.targets.aws.bootstrap import AMI_PARAMETERS
from orchestrator.targets.aws.quotas import quota_group
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.moto_server import register_image

pytestmark = pytest.mark.moto
G_ON_DEMAND = ("L-DB2E81BA", "Running On-Demand G and VT instances")
G_SPOT = ("L-3819A6DF", "All G and VT Spot Instance Requests")
QUOTA_TARGET = "ServiceQuotasV20190624.GetServiceQuota"
SPEC = """\
name: preflight-test
team: vision
owner: alice@example.com
target: aws
resources:
  instance_type: {instance_type}
  nodes: {nodes}
  spot: {spot}
  on_demand_fallback: {fallback}
  region: us-east-1
code:
  run: python3 train.py
limits:
  max_runtime: 1h
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Callable[..., Path]:
    """Write the job spec variant: ``spec_file(spot=True, fallback=False, instance_type=..., nodes=...)``."""

    def write(*, spot: bool = False, fallback: bool = True, instance_type: str = "g5.xlarge", nodes: int = 1) -> Path:
        path = tmp_path / "job.yaml"
        text = SPEC.format(instance_type=instance_type, spot=str(spot).lower(), fallback=str(fallback).lower(), nodes=nodes)
        path.write_text(text)
        (tmp_path / "train.py").write_text("print('hi')\n")
        return path

    return write


@pytest.fixture
def dlami(faults: FaultProxy) -> str:
    """The GPU image as AWS publishes it: behind its public SSM parameter, with a 75 GiB root snapshot."""
    image = register_image(aws.client("ec2", region="us-east-1"), name="dlami-base-oss-al2023")
    faults.add(fault_kinds.ssm_parameter(AMI_PARAMETERS[("gpu", "x86_64")], image))
    faults.add(fault_kinds.image(image, snapshot_gb=75))
    return image


def _quotas(faults: FaultProxy, *, on_demand: float | None = None, spot: float | None = None) -> None:
    for quota, value in ((G_ON_DEMAND, on_demand), (G_SPOT, spot)):
        if value is not None:
            faults.add(fault_kinds.service_quota(quota[0], value, quota[1]))


def _check(path: Path) -> Any:
    return AwsTarget().preflight(load_spec(path), region="us-east-1", offline=False)


def test_root_volume_grows_to_the_resolved_image_snapshot(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]) -> None:
    """Online, the size comes from the AMI the SSM parameter names: disk_gb 50 becomes 75, with a notice naming the image."""
    _quotas(faults, on_demand=8)
    checked = _check(spec_file())
    assert checked.loaded.spec.resources.disk_gb == 75
    assert checked.facts["root_volume"]["effective_gb"] == 75 and dlami in checked.facts["root_volume"]["basis"]
    assert any(line.startswith("root volume: 75 GiB instead of resources.disk_gb 50") for line in checked.notices)


def test_type_offered_nowhere_in_the_region_names_the_regions_that_price_it(
    faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]
) -> None:
    """No zone of the region offers the type: exit 2 before anything else, naming regions from the price catalog."""
    faults.add(fault_kinds.instance_type_offerings("g5.xlarge", []))
    with pytest.raises(InvalidInputError) as caught:
        _check(spec_file())
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert "g5.xlarge is not offered in any availability zone of us-east-1" in caught.value.message
    assert "us-west-2" in (caught.value.hint or "") and "resources.region" in (caught.value.hint or "")
    assert faults.count(QUOTA_TARGET) == 0


def test_zero_on_demand_quota_refuses_with_exit_5_and_how_to_raise_it(
    faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]
) -> None:
    """A G/VT on-demand quota of 0: exit 5 naming the quota, its value, the 4 vCPUs needed and how to ask for more."""
    _quotas(faults, on_demand=0)
    with pytest.raises(CloudError) as caught:
        _check(spec_file())
    error = caught.value
    assert error.exit_code == ExitCode.CLOUD and not error.retryable
    assert "'Running On-Demand G and VT instances' (L-DB2E81BA) is 0 vCPUs with 0 in use" in error.message
    assert "g5.xlarge needs 4 vCPUs in us-east-1" in error.message
    hint = error.hint or ""
    assert "https://us-east-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/L-DB2E81BA" in hint
    assert "aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2" in hint
    assert "--quota-code L-DB2E81BA --desired-value 4" in hint


def test_a_group_needs_room_for_every_node(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]) -> None:
    """A G/VT quota of 12 vCPUs holds one g5.xlarge (4) but not a 4-node group of them (16): exit 5 naming the group's need."""
    _quotas(faults, on_demand=12)
    assert _check(spec_file(nodes=1)).facts["quotas"][0]["value"] == 12
    with pytest.raises(CloudError) as caught:
        _check(spec_file(nodes=4))
    assert "4 x g5.xlarge need 16 vCPUs in us-east-1" in caught.value.message
    assert "--desired-value 16" in (caught.value.hint or "")


def test_running_instances_of_the_family_count_against_the_quota(
    faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]
) -> None:
    """Two g5.xlarge already running (8 vCPUs) under a quota of 8 leave no room for a third; 12 leave room."""
    ec2 = aws.client("ec2", region="us-east-1")
    ec2.run_instances(ImageId=dlami, InstanceType="g5.xlarge", MinCount=2, MaxCount=2)
    ec2.run_instances(ImageId=dlami, InstanceType="t3.micro", MinCount=1, MaxCount=1)  # another quota group
    _quotas(faults, on_demand=8)
    with pytest.raises(CloudError) as caught:
        _check(spec_file())
    assert "is 8 vCPUs with 8 in use" in caught.value.message and "--desired-value 12" in (caught.value.hint or "")
    aws.clear_clients()  # a new command: quotas are asked again
    faults.clear()
    faults.add(fault_kinds.ssm_parameter(AMI_PARAMETERS[("gpu", "x86_64")], dlami))
    faults.add(fault_kinds.image(dlami, snapshot_gb=75))
    _quotas(faults, on_demand=12)
    assert _check(spec_file()).facts["quotas"][0]["used_vcpus"] == 8


def test_open_spot_requests_count_against_the_spot_quota(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]) -> None:
    """An open g5.2xlarge spot request (8 vCPUs) fills a spot quota of 8: the spot job goes on-demand."""
    faults.add(fault_kinds.open_spot_requests(["g5.2xlarge", "t3.micro"]))  # t3.micro: another quota group
    _quotas(faults, on_demand=8, spot=8)
    checked = _check(spec_file(spot=True))
    assert checked.loaded.spec.resources.spot is False
    assert checked.facts["quotas"][0]["market"] == "spot" and checked.facts["quotas"][0]["used_vcpus"] == 8


def test_spot_quota_zero_with_fallback_goes_on_demand_straight_away(
    faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]
) -> None:
    """Spot quota 0, on-demand room, fallback allowed: the job is planned on-demand, with a notice saying why."""
    _quotas(faults, on_demand=8, spot=0)
    checked = _check(spec_file(spot=True))
    assert checked.loaded.spec.resources.spot is False
    [notice] = [line for line in checked.notices if "spot quota" in line]
    assert "'All G and VT Spot Instance Requests' (L-3819A6DF) is 0 vCPUs" in notice and "on-demand straight away" in notice


def test_spot_quota_zero_without_fallback_refuses(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]) -> None:
    """Spot quota 0 and on_demand_fallback off: exit 5 naming the spot quota; the on-demand quota is not even read."""
    _quotas(faults, on_demand=8, spot=0)
    with pytest.raises(CloudError) as caught:
        _check(spec_file(spot=True, fallback=False))
    assert "the spot quota 'All G and VT Spot Instance Requests' (L-3819A6DF) is 0 vCPUs" in caught.value.message
    assert faults.count(QUOTA_TARGET) == 1


def test_spot_room_but_no_on_demand_room_keeps_spot_and_warns_about_the_fallback(
    faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]
) -> None:
    """Spot quota with room, on-demand quota 0: the job stays spot, and a notice says a fallback would be refused."""
    _quotas(faults, on_demand=0, spot=8)
    checked = _check(spec_file(spot=True))
    assert checked.loaded.spec.resources.spot is True
    [notice] = [line for line in checked.notices if "falls back" in line]
    assert "'Running On-Demand G and VT instances' (L-DB2E81BA) of 0 vCPUs" in notice and "--desired-value 4" in notice


def test_quota_api_denied_is_a_warning_and_the_check_goes_on(
    faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]
) -> None:
    """AccessDenied on GetServiceQuota: a warning naming the missing permission, the spec unchanged but for the root volume."""
    faults.add(fault_kinds.access_denied("GetServiceQuota"))
    checked = _check(spec_file(spot=True))
    warnings = [line for line in checked.notices if line.startswith("warning: could not read quota")]
    assert len(warnings) == 2 and all("AccessDeniedException" in w and "servicequotas:GetServiceQuota" in w for w in warnings)
    assert checked.loaded.spec.resources.spot is True


def test_each_quota_is_asked_once_per_command(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]) -> None:
    """Two preflights in one command (plan, then up) ask each of the two quotas once."""
    _quotas(faults, on_demand=8, spot=8)
    _check(spec_file(spot=True))
    _check(spec_file(spot=True))
    assert faults.count(QUOTA_TARGET) == 2


def test_a_denied_quota_is_also_asked_only_once(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path]) -> None:
    """A refusal is remembered for the command too: no second GetServiceQuota per quota."""
    faults.add(fault_kinds.access_denied("GetServiceQuota"))
    _check(spec_file())
    _check(spec_file())
    assert faults.count(QUOTA_TARGET) == 1


def test_up_refuses_before_allocating_anything(faults: FaultProxy, dlami: str, spec_file: Callable[..., Path], cli: Any) -> None:
    """`trainctl up` with a G/VT quota of 0 exits 5 with the quota's name; no job is recorded, no stack created."""
    _quotas(faults, on_demand=0)
    result = cli("up", str(spec_file()), "--yes")
    assert result.exit_code == ExitCode.CLOUD, result.stderr
    assert "Running On-Demand G and VT instances" in result.stderr and "request-service-quota-increase" in result.stderr
    listed = cli("ls", "--output", "json")
    assert json.loads(listed.stdout)["jobs"] == []


def test_offline_preflight_asks_aws_nothing(faults: FaultProxy, spec_file: Callable[..., Path]) -> None:
    """plan --offline: the root volume from the packaged table, and not one request to AWS."""
    checked = AwsTarget().preflight(load_spec(spec_file()), region="us-east-1", offline=True)
    assert checked.loaded.spec.resources.disk_gb == 75 and "quotas" not in checked.facts
    assert faults.seen == []


def test_local_target_preflight_changes_nothing(spec_file: Callable[..., Path]) -> None:
    """The local target checks nothing and returns the spec as loaded."""
    from orchestrator.targets import get_target

    loaded: LoadedSpec = load_spec(spec_file()).with_target("local")
    assert get_target("local").preflight(loaded, region=None, offline=False).loaded is loaded


@pytest.mark.parametrize(
    ("instance_type", "group"),
    [
        ("g5.xlarge", "g"),
        ("g4dn.12xlarge", "g"),
        ("gr6.4xlarge", "g"),
        ("vt1.3xlarge", "g"),
        ("p4d.24xlarge", "p"),
        ("p5.48xlarge", "p"),
        ("inf2.xlarge", "inf"),
        ("trn1.32xlarge", "trn"),
        ("dl1.24xlarge", "dl"),
        ("x2idn.16xlarge", "x"),
        ("f1.2xlarge", "f"),
        ("t3.micro", "standard"),
        ("m7i-flex.large", "standard"),
        ("c7gn.large", "standard"),
        ("im4gn.large", "standard"),
        ("hpc7g.4xlarge", None),
        ("mac2.metal", None),
        ("u-6tb1.metal", None),
    ],
)
def test_each_type_is_checked_against_its_quota_group(instance_type: str, group: str | None) -> None:
    """Family prefixes map to EC2's vCPU quota groups (G and VT share one; DL is not D; HPC, Mac, u- are not checked)."""
    assert quota_group(instance_type) == group
