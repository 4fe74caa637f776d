"""EC2 calls of the AWS target: launch (spot first, then on-demand), describe, terminate.

``launch`` tries the requested market in each default subnet whose availability zone offers the
instance type (DescribeInstanceTypeOfferings; capacity is per zone), then, for spot with
``on_demand_fallback``, on-demand in the same subnets. A multi-node job's group is one RunInstances
call asking for all of its nodes (``MinCount`` = ``MaxCount`` = N) in its cluster placement group: EC2
starts all of them or none, so a group is never part spot, part on-demand, and a shortage of even one
node moves the whole group on to the next zone or market. Should a launch ever answer with fewer
instances than asked, they are terminated and the attempt counts as a capacity answer.

A capacity answer (InsufficientInstanceCapacity, SpotMaxPriceTooLow, MaxSpotInstanceCountExceeded...)
is not retried in place: it moves on to the next zone or market; EC2's ``Unsupported`` (the zone lacks
the type after all) moves on to the next zone and drops that zone for the other market too. The root
volume is sized to at least the launched image's root snapshot (``images``), which EC2 would otherwise
refuse. A throttled RunInstances is retried with backoff here (``sleep`` is injectable, the dynamic
provider's tests pin it), and so is the short window in which a new instance profile is not yet
visible to EC2. Every other call (describe, terminate, subnets, images) runs under the one retry
policy through ``aws.call``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import CapacityError, CloudError, TransientCloudError
from orchestrator.targets.aws import images
from orchestrator.vocabulary import Tag

Sleep = Callable[[float], None]
THROTTLE_RETRIES = 4
PROFILE_WAIT_S = 90.0
TERMINATE_WAIT_S = 600.0
LIVE_STATES = ("pending", "running", "stopping", "stopped")
SPOT_OPTIONS = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
# EC2's answer when the zone does not offer the instance type: move on to the next zone.
UNSUPPORTED_IN_ZONE = "Unsupported"


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
    image: str | None = None  # the template's image: ``resolve:ssm:<parameter>`` or an AMI id
    instance_type: str | None = None
    # A multi-node job: how many alike instances, the cluster placement group they share, and (for a
    # type with EFA) the security group of their EFA interface (the launch gives it its subnet).
    count: int = 1
    placement_group: str | None = None
    efa_security_group: str | None = None


@dataclass(frozen=True)
class Launched:
    """The instances that started (rank order), in which market, and what failed before them."""

    instance_ids: list[str]
    market: str
    subnet_id: str | None
    attempts: list[str] = field(default_factory=list)
    root_gb: int | None = None
    private_ips: list[str] = field(default_factory=list)  # rank order, as EC2 answered the launch

    @property
    def instance_id(self) -> str:
        """Node rank 0's instance (the only one of a one-node job)."""
        return self.instance_ids[0]


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
    ssm: Any = None,
    sleep: Sleep = time.sleep,
    profile_wait_s: float = PROFILE_WAIT_S,
) -> Launched:
    """Start the job's instances (all in one market and zone); raise CapacityError when no zone or allowed
    market has room for all of them.

    ``run_client`` (default ``ec2``) makes the RunInstances calls: give it a client without botocore
    retries, since botocore would retry a capacity answer (an HTTP 500) in place. ``ssm`` resolves an
    image named by a public SSM parameter (to read its root snapshot size).
    """
    subnets: list[str | None] = [*offered_subnets(ec2, request.instance_type)] or [None]
    overrides, root_gb = _root_volume_override(ec2, ssm, request)
    tried: list[str] = []
    unsupported: set[str | None] = set()
    last: CloudError | None = None
    for market in markets(request):
        for subnet in subnets:
            if subnet in unsupported:
                continue
            try:
                started = _run(run_client or ec2, request, market, subnet, overrides, sleep, profile_wait_s)
                _check_whole(ec2, request, started, market, subnet)
            except CloudError as e:
                if not _moves_on(e):
                    raise
                tried.append(f"{market} in {subnet or 'the default subnet'}: {aws.error_code(e)}")
                if aws.error_code(e) == UNSUPPORTED_IN_ZONE:
                    unsupported.add(subnet)
                last = e
                continue
            ids, ips = [i for i, _ in started], [ip for _, ip in started if ip]
            return Launched(ids, market=market, subnet_id=subnet, attempts=tried, root_gb=root_gb, private_ips=ips)
    hint = "try later, another region or instance type" + (", or fewer resources.nodes" if request.count > 1 else "")
    if request.spot and not request.on_demand_fallback:
        hint += ", or set resources.on_demand_fallback: true"
    raise CapacityError(
        f"no capacity for job {request.job_id} after {len(tried)} attempt(s): " + "; ".join(tried),
        context={"job_id": request.job_id, "code": aws.error_code(last) if last else "capacity"},
        hint=hint,
    ) from last


def offered_subnets(ec2: Any, instance_type: str | None) -> list[str]:
    """The default subnets whose zone offers ``instance_type`` (all of them when the type is not known).

    Raises CapacityError when the region has default subnets but none of their zones offers the type.
    """
    zoned = _default_zone_subnets(ec2)
    if instance_type is None or not zoned:
        return [subnet for subnet, _ in zoned]
    zones = offered_zones(ec2, instance_type)
    offered = [subnet for subnet, zone in zoned if zone in zones]
    if not offered:
        raise CapacityError(
            f"instance type {instance_type} is not offered in any availability zone of the default VPC",
            context={"instance_type": instance_type, "code": UNSUPPORTED_IN_ZONE},
            hint="choose another instance type or region (`trainctl plan` names the regions that price it)",
        )
    return offered


def offered_zones(ec2: Any, instance_type: str) -> set[str]:
    """The availability zones of the client's region that offer ``instance_type``."""
    filters = [{"Name": "instance-type", "Values": [instance_type]}]

    def listing() -> set[str]:
        pages = ec2.get_paginator("describe_instance_type_offerings").paginate(LocationType="availability-zone", Filters=filters)
        return {o["Location"] for page in pages for o in page["InstanceTypeOfferings"]}

    operation = "finding the zones that offer the type (ec2 DescribeInstanceTypeOfferings)"
    return aws.call(operation, listing, instance_type=instance_type)


def default_subnets(ec2: Any) -> list[str]:
    """The default VPC's subnets, one per availability zone, in zone order."""
    return [subnet for subnet, _ in _default_zone_subnets(ec2)]


def _default_zone_subnets(ec2: Any) -> list[tuple[str, str]]:
    """(subnet, zone) of the default VPC's subnets, in zone order."""
    filters = [{"Name": "default-for-az", "Values": ["true"]}]
    found = aws.call("listing default subnets (ec2 DescribeSubnets)", lambda: ec2.describe_subnets(Filters=filters)["Subnets"])
    pairs = [(str(s["SubnetId"]), str(s.get("AvailabilityZone", ""))) for s in found]
    return sorted(pairs, key=lambda pair: pair[1])


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


def describe_many(ec2: Any, instance_ids: list[str]) -> dict[str, InstanceFacts]:
    """The instances of ``instance_ids`` EC2 still lists, by id, in one paginated call (a filter, so an id
    EC2 has forgotten is simply missing instead of failing the call)."""
    filters = [{"Name": "instance-id", "Values": list(instance_ids)}]

    def listing() -> dict[str, InstanceFacts]:
        pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return {f.instance_id: f for page in pages for r in page["Reservations"] for f in map(_facts, r["Instances"])}

    return aws.call("describing the instances (ec2 DescribeInstances)", listing, instance_ids=",".join(instance_ids))


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
    terminate_all(ec2, [instance_id], wait_s=wait_s, sleep=sleep)


def terminate_all(ec2: Any, instance_ids: list[str], *, wait_s: float = TERMINATE_WAIT_S, sleep: Sleep = time.sleep) -> None:
    """Terminate every instance of a group in one call and wait until all are gone (so their security
    group and placement group can be deleted). Instances EC2 no longer knows count as gone."""
    pending = list(dict.fromkeys(instance_ids))
    if not pending:
        return
    try:
        aws.call(
            "terminating the instances (ec2 TerminateInstances)",
            lambda: ec2.terminate_instances(InstanceIds=pending),
            instance_ids=",".join(pending),
        )
    except CloudError as e:
        if not aws.is_not_found(e):
            raise
        pending = [i for i in pending if describe(ec2, i) is not None]  # some are unknown: end the rest one by one
        for instance_id in pending:
            _terminate_one(ec2, instance_id)
    deadline = time.monotonic() + wait_s
    while True:
        left = [(i, f) for i, f in describe_many(ec2, pending).items() if f.state != "terminated"]
        if not left:
            return
        if time.monotonic() >= deadline:
            states = ", ".join(f"{i} {f.state}" for i, f in left)
            raise TransientCloudError(f"still running after {wait_s:.0f}s: {states}", hint="run `trainctl down` again shortly")
        sleep(5.0)


def _terminate_one(ec2: Any, instance_id: str) -> None:
    try:
        aws.call(
            "terminating the instance (ec2 TerminateInstances)",
            lambda: ec2.terminate_instances(InstanceIds=[instance_id]),
            instance_id=instance_id,
        )
    except CloudError as e:
        if not aws.is_not_found(e):
            raise


def _run(
    ec2: Any,
    request: LaunchRequest,
    market: str,
    subnet: str | None,
    overrides: dict[str, Any],
    sleep: Sleep,
    profile_wait_s: float,
) -> list[tuple[str, str | None]]:
    """(instance id, private address) of every instance one RunInstances call started, in launch order."""
    params: dict[str, Any] = {
        "MinCount": request.count,
        "MaxCount": request.count,
        "LaunchTemplate": {"LaunchTemplateId": request.launch_template_id, "Version": request.launch_template_version},
        "TagSpecifications": _tag_specifications(request, market),
        **overrides,
    }
    if request.placement_group:
        params["Placement"] = {"GroupName": request.placement_group}
    if request.efa_security_group:
        # An interface of the launch carries the subnet (EC2 refuses an instance-level one beside it).
        interface: dict[str, Any] = {
            "DeviceIndex": 0,
            "NetworkCardIndex": 0,
            "InterfaceType": "efa",
            "Groups": [request.efa_security_group],
            "DeleteOnTermination": True,
        }
        if subnet:
            interface["SubnetId"] = subnet
        params["NetworkInterfaces"] = [interface]
    elif subnet:
        params["SubnetId"] = subnet
    if market == "spot":
        params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": dict(SPOT_OPTIONS)}
    profile_deadline = time.monotonic() + profile_wait_s
    throttled = 0
    while True:
        try:
            with aws.calling(f"launching a {market} instance (ec2 RunInstances)", job_id=request.job_id, market=market):
                answer = ec2.run_instances(**params)
            started = sorted(answer["Instances"], key=lambda i: int(i.get("AmiLaunchIndex", 0)))
            return [(str(i["InstanceId"]), i.get("PrivateIpAddress")) for i in started]
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


def _check_whole(
    ec2: Any, request: LaunchRequest, started: list[tuple[str, str | None]], market: str, subnet: str | None
) -> None:
    """All-or-nothing: a launch that started fewer instances than the group (or did not say every node's
    address) is undone and answered as a capacity shortage, so the group moves on as a whole."""
    missing_ip = any(ip is None for _, ip in started)
    if len(started) == request.count and not (request.count > 1 and missing_ip):
        return
    terminate_all(ec2, [i for i, _ in started])
    raise CapacityError(
        f"the {market} launch in {subnet or 'the default subnet'} started {len(started)} of {request.count} instances",
        context={"job_id": request.job_id, "code": "PartialGroup"},
    )


def _profile_not_ready(error: CloudError) -> bool:
    """EC2 does not see an instance profile for some seconds after IAM created it."""
    return aws.error_code(error) == "InvalidParameterValue" and "profile" in error.message.lower()


def _tag_specifications(request: LaunchRequest, market: str) -> list[dict[str, Any]]:
    tags = [{"Key": k, "Value": v} for k, v in sorted({**request.tags, "Name": f"trainctl-{request.job_id}"}.items())]
    kinds = ["instance", "volume", "network-interface"] + (["spot-instances-request"] if market == "spot" else [])
    return [{"ResourceType": kind, "Tags": tags} for kind in kinds]


def _moves_on(error: CloudError) -> bool:
    """A capacity answer, or the zone not offering the type: try the next zone or market."""
    return isinstance(error, CapacityError) or aws.error_code(error) == UNSUPPORTED_IN_ZONE


def _root_volume_override(ec2: Any, ssm: Any, request: LaunchRequest) -> tuple[dict[str, Any], int]:
    """RunInstances parameters that size the root volume from the image launched, and that size.

    The template asks for ``disk_gb`` on its root device. EC2 refuses a volume smaller than the image's
    root snapshot, and the image behind the SSM parameter may have grown since the program ran (a
    relaunch hours later): then the launch asks for the snapshot's size. An image whose root device is
    not the template's gets its own device sized and encrypted, and the template's device dropped.
    """
    reference = request.image or request.image_override
    if not reference:
        return {}, request.disk_gb
    facts = images.describe(ssm, ec2, reference)
    size = max(request.disk_gb, facts.snapshot_gb or 0)
    root = facts.root_device or request.root_device
    if root == request.root_device and size == request.disk_gb:
        return {}, size
    volume = {"VolumeSize": size, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}
    mappings: list[dict[str, Any]] = [{"DeviceName": root, "Ebs": volume}]
    if root != request.root_device:
        mappings.append({"DeviceName": request.root_device, "NoDevice": ""})
    return {"BlockDeviceMappings": mappings}, size


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
