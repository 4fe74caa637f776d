"""Launch answers real EC2 gives and moto does not (reproduced with the fault proxy): an image whose root
snapshot is larger than disk_gb, zones that do not offer the instance type, `Unsupported` in a zone."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.errors import CapacityError, CloudError, ExitCode, InvalidInputError
from orchestrator.targets.aws import compute
from orchestrator.targets.aws.bootstrap import AMI_PARAMETERS
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.moto_server import register_image
from tests.aws.conftest import launch_request

pytestmark = pytest.mark.moto
GPU_PARAMETER = AMI_PARAMETERS[("gpu", "x86_64")]


def _template(ec2: Any, image: str, disk_gb: int) -> str:
    data = {
        "ImageId": image,
        "InstanceType": "g5.xlarge",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": disk_gb, "VolumeType": "gp3"}}],
    }
    answer = ec2.create_launch_template(LaunchTemplateName="trainctl-realism", LaunchTemplateData=data)
    return str(answer["LaunchTemplate"]["LaunchTemplateId"])


def _request(template_id: str, *, disk_gb: int = 50, **changes: Any) -> compute.LaunchRequest:
    request: compute.LaunchRequest = launch_request(template_id, disk_gb=disk_gb, **changes)
    return request


def _clients() -> tuple[Any, Any, Any]:
    region = "us-east-1"
    return aws.client("ec2", region=region), aws.client("ec2", region=region, max_attempts=1), aws.client("ssm", region=region)


def _gpu_image(ec2: Any, faults: FaultProxy, *, snapshot_gb: int = 75) -> str:
    """A DLAMI stand-in: published under the GPU parameter, with a ``snapshot_gb`` root snapshot; EC2 refuses less."""
    image = register_image(ec2, name="dlami-base-oss-al2023")
    faults.add(fault_kinds.ssm_parameter(GPU_PARAMETER, image))
    faults.add(fault_kinds.image(image, snapshot_gb=snapshot_gb))
    return image


def _zones(ec2: Any) -> dict[str, str]:
    """subnet id -> zone of the default subnets."""
    return {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz")}


def test_ec2_refuses_a_root_volume_smaller_than_the_snapshot(faults: FaultProxy) -> None:
    """The reproduced answer: a launch that keeps the template's 50 GB under a 75 GB snapshot is refused (exit 5)."""
    ec2, run, _ = _clients()
    template = _template(ec2, _gpu_image(ec2, faults), 50)
    faults.add(fault_kinds.snapshot_too_small(50, 75))
    with pytest.raises(CloudError) as caught:
        compute.launch(ec2, _request(template), run_client=run)  # no image named: nothing sizes the volume
    assert caught.value.context["code"] == "InvalidBlockDeviceMapping" and caught.value.exit_code == ExitCode.CLOUD
    assert "expect size >= 75GB" in caught.value.message


def test_launch_sizes_the_root_volume_to_the_ssm_image_snapshot(faults: FaultProxy) -> None:
    """With the template's image (the SSM parameter), the launch reads the AMI's 75 GB snapshot and asks for 75 GB."""
    ec2, run, ssm = _clients()
    template = _template(ec2, _gpu_image(ec2, faults), 50)
    refusal = faults.add(fault_kinds.snapshot_too_small(50, 75))
    launched = compute.launch(ec2, _request(template, image=f"resolve:ssm:{GPU_PARAMETER}"), run_client=run, ssm=ssm)
    assert launched.root_gb == 75 and refusal.injected == 0
    assert faults.count("GetParameter") == 0  # JSON API: counted under its target name
    assert faults.count("AmazonSSM.GetParameter") == 1 and faults.count("DescribeImages") == 1


def test_a_larger_disk_gb_is_kept(faults: FaultProxy) -> None:
    """disk_gb above the snapshot is what the template asks for: no override, the launch passes as is."""
    ec2, run, ssm = _clients()
    template = _template(ec2, _gpu_image(ec2, faults), 100)
    launched = compute.launch(ec2, _request(template, disk_gb=100, image=f"resolve:ssm:{GPU_PARAMETER}"), run_client=run, ssm=ssm)
    assert launched.root_gb == 100


def test_an_ami_override_is_checked_the_same_way(faults: FaultProxy) -> None:
    """resources.ami: its snapshot is read with DescribeImages too, and the root volume grows to it."""
    ec2, run, _ = _clients()
    image = register_image(ec2, name="my-image")
    faults.add(fault_kinds.image(image, snapshot_gb=120))
    template = _template(ec2, image, 64)
    faults.add(fault_kinds.snapshot_too_small(64, 120))
    launched = compute.launch(ec2, _request(template, disk_gb=64, image=image, image_override=image), run_client=run)
    assert launched.root_gb == 120


def test_an_ami_override_that_does_not_exist_is_invalid_input(faults: FaultProxy) -> None:
    """A resources.ami unknown in the region is exit 2 naming the image, before any RunInstances."""
    ec2, run, _ = _clients()
    template = _template(ec2, register_image(ec2), 64)
    with pytest.raises(InvalidInputError) as caught:
        compute.launch(ec2, _request(template, image="ami-0123456789abcdef0"), run_client=run)
    assert "ami-0123456789abcdef0" in caught.value.message and "resources.ami" in (caught.value.hint or "")
    assert faults.count("RunInstances") == 0


def test_only_zones_offering_the_type_are_tried(faults: FaultProxy) -> None:
    """g5.xlarge is not offered in us-east-1e: spot with no capacity anywhere tries the 5 other zones, then on-demand."""
    ec2, run, _ = _clients()
    template = _template(ec2, register_image(ec2), 64)
    zones = _zones(ec2)
    offered = compute.offered_zones(ec2, "g5.xlarge")
    assert "us-east-1e" not in offered and len(zones) == len(offered) + 1
    faults.add(fault_kinds.capacity())
    launched = compute.launch(ec2, _request(template, disk_gb=64, spot=True, instance_type="g5.xlarge"), run_client=run)
    assert launched.market == "on-demand" and zones[str(launched.subnet_id)] in offered
    assert faults.count("RunInstances", "capacity") == len(offered)
    assert not any(zones[subnet] == "us-east-1e" for subnet in zones if subnet in " ".join(launched.attempts))


def test_unsupported_in_a_zone_moves_on_to_the_next_zone(faults: FaultProxy) -> None:
    """EC2's `Unsupported` for the first zone (its exact message) moves the launch to the next zone, for good."""
    ec2, run, _ = _clients()
    template = _template(ec2, register_image(ec2), 64)
    subnets = compute.default_subnets(ec2)  # the request names no type: every zone is a candidate
    zones = _zones(ec2)
    refusal = faults.add(fault_kinds.unsupported_in_zone("g5.xlarge", zones[subnets[0]], subnets[0], ["us-east-1b"]))
    faults.add(fault_kinds.capacity(times=len(subnets)))  # spot: none anywhere, so on-demand walks the zones again
    launched = compute.launch(ec2, _request(template, disk_gb=64, spot=True), run_client=run)
    assert launched.market == "on-demand" and launched.subnet_id == subnets[1]
    assert launched.attempts[0] == f"spot in {subnets[0]}: Unsupported"
    assert refusal.injected == 1  # on-demand never asked the zone that lacks the type again


def test_a_type_offered_in_no_zone_fails_before_any_launch(faults: FaultProxy) -> None:
    """No zone of the region offers the type: a CapacityError naming it, and no RunInstances at all."""
    ec2, run, _ = _clients()
    template = _template(ec2, register_image(ec2), 64)
    faults.add(fault_kinds.instance_type_offerings("g5.xlarge", []))
    with pytest.raises(CapacityError) as caught:
        compute.launch(ec2, _request(template, disk_gb=64, instance_type="g5.xlarge"), run_client=run)
    assert "g5.xlarge is not offered" in caught.value.message
    assert faults.count("RunInstances") == 0
