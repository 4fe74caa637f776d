"""EC2 calls of the AWS target: launch (spot first, then on-demand), describe, terminate.

``launch`` tries the requested market in each default subnet (capacity is per availability zone),
then, for spot with ``on_demand_fallback``, on-demand in each subnet. A capacity answer
(InsufficientInstanceCapacity, SpotMaxPriceTooLow, MaxSpotInstanceCountExceeded...) is not retried
in place: it moves on to the next zone or market. A throttled RunInstances is retried with backoff
here (``sleep`` is injectable, the dynamic provider's tests pin it), and so is the short window in which
a new instance profile is not yet visible to EC2. Every other call (describe, terminate, subnets,
images) runs under the one retry policy through ``aws.call``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import CapacityError, CloudError, TransientCloudError
from orchestrator.vocabulary import Tag

Sleep = Callable[[float], None]
THROTTLE_RETRIES = 4
PROFILE_WAIT_S = 90.0
TERMINATE_WAIT_S = 600.0
LIVE_STATES = ("pending", "running", "stopping", "stopped")
SPOT_OPTIONS = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}


@dataclass(frozen=True)
class LaunchRequest:
    """One instance from the job's launch template."""

    job_id: str
    launch_template_id: str
    launch_template_version: str
    tags: dict[str, str]
    spot: bool
    on_demand_fallback: bool
    disk_gb: int
    image_override: str | None = None
    root_device: str = "/dev/xvda"


@dataclass(frozen=True)
class Launched:
    """The instance that started, in which market, and what failed before it."""

    instance_id: str
    market: str
    subnet_id: str | None
    attempts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InstanceFacts:
    """What EC2 says about one instance."""

    instance_id: str
    state: str
    reason_code: str | None
    reason_message: str | None
    launched_at: float | None
    market: str
    instance_type: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


def markets(request: LaunchRequest) -> list[str]:
    """The purchase options to try, in order."""
    if not request.spot:
        return ["on-demand"]
    return ["spot", "on-demand"] if request.on_demand_fallback else ["spot"]


def launch(
    ec2: Any,
    request: LaunchRequest,
    *,
    run_client: Any = None,
    sleep: Sleep = time.sleep,
    profile_wait_s: float = PROFILE_WAIT_S,
) -> Launched:
    """Start the job's instance; raise CapacityError when no zone or allowed market has room.

    ``run_client`` (default ``ec2``) makes the RunInstances calls: give it a client without botocore
    retries, since botocore would retry a capacity answer (an HTTP 500) in place.
    """
    subnets: list[str | None] = [*default_subnets(ec2)] or [None]
    overrides = _root_volume_override(ec2, request)
    tried: list[str] = []
    last: CapacityError | None = None
    for market in markets(request):
        for subnet in subnets:
            try:
                instance_id = _run(run_client or ec2, request, market, subnet, overrides, sleep, profile_wait_s)
            except CapacityError as e:
                tried.append(f"{market} in {subnet or 'the default subnet'}: {aws.error_code(e)}")
                last = e
                continue
            return Launched(instance_id=instance_id, market=market, subnet_id=subnet, attempts=tried)
    hint = "try later, another region or instance type"
    if request.spot and not request.on_demand_fallback:
        hint += ", or set resources.on_demand_fallback: true"
    raise CapacityError(
        f"no capacity for job {request.job_id} after {len(tried)} attempt(s): " + "; ".join(tried),
        context={"job_id": request.job_id, "code": aws.error_code(last) if last else "capacity"},
        hint=hint,
    ) from last


def default_subnets(ec2: Any) -> list[str]:
    """The default VPC's subnets, one per availability zone, in zone order."""
    filters = [{"Name": "default-for-az", "Values": ["true"]}]
    found = aws.call("listing default subnets (ec2 DescribeSubnets)", lambda: ec2.describe_subnets(Filters=filters)["Subnets"])
    return [s["SubnetId"] for s in sorted(found, key=lambda s: s.get("AvailabilityZone", ""))]


def describe(ec2: Any, instance_id: str) -> InstanceFacts | None:
    """The instance, or None when EC2 no longer knows it."""
    try:
        reservations = aws.call(
            "describing the instance (ec2 DescribeInstances)",
            lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"],
            instance_id=instance_id,
        )
    except CloudError as e:
        if aws.is_not_found(e):
            return None
        raise
    instances = [_facts(i) for r in reservations for i in r["Instances"]]
    return instances[0] if instances else None


def job_instances(ec2: Any, job_id: str) -> list[InstanceFacts]:
    """Every instance tagged with ``job_id`` (terminated ones too, while EC2 lists them), newest first."""
    filters = [{"Name": f"tag:{Tag.JOB_ID}", "Values": [job_id]}]

    def listing() -> list[InstanceFacts]:
        pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return [_facts(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]

    found = aws.call("finding the job's instances (ec2 DescribeInstances)", listing, job_id=job_id)
    return sorted(found, key=lambda f: f.launched_at or 0.0, reverse=True)


def terminate(ec2: Any, instance_id: str, *, wait_s: float = TERMINATE_WAIT_S, sleep: Sleep = time.sleep) -> None:
    """Terminate the instance and wait until it is gone (so its security group can be deleted)."""
    try:
        aws.call(
            "terminating the instance (ec2 TerminateInstances)",
            lambda: ec2.terminate_instances(InstanceIds=[instance_id]),
            instance_id=instance_id,
        )
    except CloudError as e:
        if aws.is_not_found(e):
            return
        raise
    deadline = time.monotonic() + wait_s
    while True:
        facts = describe(ec2, instance_id)
        if facts is None or facts.state == "terminated":
            return
        if time.monotonic() >= deadline:
            raise TransientCloudError(
                f"instance {instance_id} is still {facts.state} after {wait_s:.0f}s", hint="run `trainctl down` again shortly"
            )
        sleep(5.0)


def _run(
    ec2: Any,
    request: LaunchRequest,
    market: str,
    subnet: str | None,
    overrides: dict[str, Any],
    sleep: Sleep,
    profile_wait_s: float,
) -> str:
    params: dict[str, Any] = {
        "MinCount": 1,
        "MaxCount": 1,
        "LaunchTemplate": {"LaunchTemplateId": request.launch_template_id, "Version": request.launch_template_version},
        "TagSpecifications": _tag_specifications(request, market),
        **overrides,
    }
    if subnet:
        params["SubnetId"] = subnet
    if market == "spot":
        params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": dict(SPOT_OPTIONS)}
    profile_deadline = time.monotonic() + profile_wait_s
    throttled = 0
    while True:
        try:
            with aws.calling(f"launching a {market} instance (ec2 RunInstances)", job_id=request.job_id, market=market):
                answer = ec2.run_instances(**params)
            return str(answer["Instances"][0]["InstanceId"])
        except TransientCloudError:
            throttled += 1
            if throttled >= THROTTLE_RETRIES:
                raise
            sleep(min(8.0, 2.0**throttled))
        except CapacityError:
            raise
        except CloudError as e:
            if not _profile_not_ready(e) or time.monotonic() >= profile_deadline:
                raise
            sleep(3.0)


def _profile_not_ready(error: CloudError) -> bool:
    """EC2 does not see an instance profile for some seconds after IAM created it."""
    return aws.error_code(error) == "InvalidParameterValue" and "profile" in error.message.lower()


def _tag_specifications(request: LaunchRequest, market: str) -> list[dict[str, Any]]:
    tags = [{"Key": k, "Value": v} for k, v in sorted({**request.tags, "Name": f"trainctl-{request.job_id}"}.items())]
    kinds = ["instance", "volume", "network-interface"] + (["spot-instances-request"] if market == "spot" else [])
    return [{"ResourceType": kind, "Tags": tags} for kind in kinds]


def _root_volume_override(ec2: Any, request: LaunchRequest) -> dict[str, Any]:
    """For an AMI override whose root device is not the template's, size and encrypt that device instead."""
    if not request.image_override:
        return {}
    image = request.image_override
    images = aws.call(
        "reading the AMI (ec2 DescribeImages)", lambda: ec2.describe_images(ImageIds=[image])["Images"], image_id=image
    )
    root = images[0].get("RootDeviceName") if images else None
    if not root or root == request.root_device:
        return {}
    volume = {"VolumeSize": request.disk_gb, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}
    return {"BlockDeviceMappings": [{"DeviceName": root, "Ebs": volume}, {"DeviceName": request.root_device, "NoDevice": ""}]}


def _facts(instance: dict[str, Any]) -> InstanceFacts:
    reason = instance.get("StateReason") or {}
    launched = instance.get("LaunchTime")
    return InstanceFacts(
        instance_id=instance["InstanceId"],
        state=instance["State"]["Name"],
        reason_code=reason.get("Code") or None,
        reason_message=reason.get("Message") or None,
        launched_at=launched.timestamp() if launched is not None else None,
        market="spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand",
        instance_type=instance.get("InstanceType"),
    )
