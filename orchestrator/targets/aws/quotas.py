"""EC2 vCPU quotas, read before anything is allocated: a quota of 0 is a clear error, not a failed launch.

EC2 limits the vCPUs running per family group, with separate quotas for on-demand and spot (a new
account has 0 for the G/VT and P groups). ``check`` reads the applicable Service Quotas
(GetServiceQuota) and the vCPUs already running in the group (DescribeInstances, plus open spot
requests for a spot job; vCPUs per type from DescribeInstanceTypes), then decides: go on, go straight
to on-demand (spot quota too small, fallback allowed), or refuse with exit 5 naming the quota, its
value, what the job needs and how to ask for more. A quota API that refuses (AccessDenied) or fails
is a warning, never a block. Every answer is asked at most once per command (``aws.remembered``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import CloudError

SERVICE_CODE = "ec2"
LIVE_STATES = ("pending", "running")


@dataclass(frozen=True)
class Quota:
    """One Service Quotas quota of EC2 (codes as Service Quotas lists them)."""

    code: str
    name: str


# quota group -> (on-demand quota, spot quota). Codes: AWS CLI reference (get-service-quota, L-1216C47A)
# and the EC2 user guide's quota names; docs/aws.md lists them.
QUOTAS: dict[str, tuple[Quota, Quota]] = {
    "standard": (
        Quota("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
        Quota("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
    ),
    "g": (
        Quota("L-DB2E81BA", "Running On-Demand G and VT instances"),
        Quota("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ),
    "p": (Quota("L-417A185B", "Running On-Demand P instances"), Quota("L-7212CCBC", "All P Spot Instance Requests")),
    "f": (Quota("L-74FC7D96", "Running On-Demand F instances"), Quota("L-88CF9481", "All F Spot Instance Requests")),
    "x": (Quota("L-7295265B", "Running On-Demand X instances"), Quota("L-E3A00192", "All X Spot Instance Requests")),
    "inf": (Quota("L-1945791B", "Running On-Demand Inf instances"), Quota("L-B5D1601B", "All Inf Spot Instance Requests")),
    "trn": (Quota("L-2C3B7624", "Running On-Demand Trn instances"), Quota("L-5480EFD2", "All Trn Spot Instance Requests")),
    "dl": (Quota("L-6E869C2A", "Running On-Demand DL instances"), Quota("L-85EED4F7", "All DL Spot Instance Requests")),
}
_SERIES_GROUPS = {"g": "g", "gr": "g", "vt": "g", "p": "p", "f": "f", "x": "x", "inf": "inf", "trn": "trn", "dl": "dl"}
_STANDARD_LETTERS = "acdhimrtz"
_NOT_COVERED = ("hpc", "mac", "u")  # own quotas (or dedicated hosts): not checked
_SERIES = re.compile(r"^(?P<series>[a-z]+?)\d")


@dataclass(frozen=True)
class Reading:
    """A quota's value (None when it could not be read, with why) and the vCPUs in use against it."""

    quota: Quota
    market: str
    value: float | None
    used: int
    problem: str | None = None

    def room(self) -> float | None:
        return None if self.value is None else self.value - self.used


@dataclass(frozen=True)
class Verdict:
    """What the quotas allow: ``on_demand_only`` when spot has no room but on-demand does; notices to show."""

    on_demand_only: bool
    notices: list[str]
    readings: list[Reading]

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"quota": r.quota.name, "code": r.quota.code, "market": r.market, "value": r.value, "used_vcpus": r.used}
            | ({"problem": r.problem} if r.problem else {})
            for r in self.readings
        ]


def quota_group(instance_type: str) -> str | None:
    """The quota group of ``instance_type`` (``g`` for g5.xlarge, ``standard`` for m7i.large), None if not covered."""
    match = _SERIES.match(instance_type)
    if match is None:
        return None
    series = match["series"]
    if series in _SERIES_GROUPS:
        return _SERIES_GROUPS[series]
    if series.startswith(_NOT_COVERED):
        return None
    return "standard" if series[0] in _STANDARD_LETTERS else None


def check(quotas: Any, ec2: Any, *, region: str, instance_type: str, spot: bool, fallback: bool, nodes: int = 1) -> Verdict:
    """Read the quotas the job launches under; raise CloudError (exit 5) when none of its markets has room
    for all of its ``nodes`` instances (a multi-node group launches all at once or not at all)."""
    group = quota_group(instance_type)
    if group is None:
        return Verdict(False, [], [])
    on_demand, spot_quota = QUOTAS[group]
    markets = [("on-demand", on_demand)]
    if spot:
        markets = [("spot", spot_quota), *(markets if fallback else [])]
    usage = _vcpus_in_use(ec2, group, instance_type, spot=spot)
    per_node = usage.per_type.get(instance_type)
    if per_node is None:  # EC2 does not describe the type here: the zone check has said so already
        return Verdict(False, [f"warning: EC2 does not describe {instance_type} in {region}: quotas not checked"], [])
    need = per_node * nodes
    what = f"{instance_type} needs" if nodes == 1 else f"{nodes} x {instance_type} need"
    readings = []
    for market, quota in markets:
        value, problem = _value(quotas, region, quota)
        readings.append(Reading(quota, market, value, usage.used[market], problem))
    notices = [_unread_notice(r) for r in readings if r.value is None]
    fits = [r for r in readings if r.value is None or (r.room() or 0) >= need]
    if not fits:
        raise _exceeded(readings[0], need, what, region, readings[1:], instance_type)
    if spot and fits[0].market == "on-demand":
        notices.append(
            f"spot quota '{readings[0].quota.name}' ({readings[0].quota.code}) is {readings[0].value:g} vCPUs with "
            f"{readings[0].used} in use, {what} {need}: launching on-demand straight away "
            f"(on_demand_fallback is on); {_increase(readings[0].quota, region, readings[0].used + need)}"
        )
        return Verdict(True, notices, readings)
    if len(fits) < len(readings):
        od = readings[-1]
        notices.append(
            f"if spot falls back to on-demand, quota '{od.quota.name}' ({od.quota.code}) of {od.value:g} vCPUs "
            f"({od.used} in use) will refuse it; {_increase(od.quota, region, od.used + need)}"
        )
    return Verdict(False, notices, readings)


@dataclass(frozen=True)
class _Usage:
    per_type: dict[str, int]  # vCPUs of each type seen
    used: dict[str, int]  # vCPUs running in the group, per market


def _vcpus_in_use(ec2: Any, group: str, instance_type: str, *, spot: bool) -> _Usage:
    """vCPUs of the group's running instances per market; for a spot job, open spot requests count too
    (EC2 counts the vCPUs they will use against the spot quota)."""
    running = [(t, m) for t, m in _running(ec2) if quota_group(t) == group]
    if spot:
        running += [(t, "spot") for t in _open_spot_requests(ec2) if quota_group(t) == group]
    per_type = _vcpus(ec2, sorted({instance_type, *(t for t, _ in running)}))
    used = {"spot": 0, "on-demand": 0}
    for kind, market in running:
        used[market] += per_type.get(kind, 0)
    return _Usage(per_type, used)


def _running(ec2: Any) -> list[tuple[str, str]]:
    filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]

    def listing() -> list[tuple[str, str]]:
        pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return [
            (i["InstanceType"], "spot" if i.get("InstanceLifecycle") == "spot" else "on-demand")
            for page in pages
            for r in page["Reservations"]
            for i in r["Instances"]
        ]

    return aws.call("counting running vCPUs (ec2 DescribeInstances)", listing)


def _open_spot_requests(ec2: Any) -> list[str]:
    filters = [{"Name": "state", "Values": ["open"]}]

    def listing() -> list[str]:
        pages = ec2.get_paginator("describe_spot_instance_requests").paginate(Filters=filters)
        return [r["LaunchSpecification"]["InstanceType"] for page in pages for r in page["SpotInstanceRequests"]]

    return aws.call("counting open spot requests (ec2 DescribeSpotInstanceRequests)", listing)


def _vcpus(ec2: Any, types: list[str]) -> dict[str, int]:
    def describe() -> dict[str, int]:
        pages = ec2.get_paginator("describe_instance_types").paginate(InstanceTypes=types)
        return {t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"]) for page in pages for t in page["InstanceTypes"]}

    return aws.call("reading vCPUs per type (ec2 DescribeInstanceTypes)", describe, instance_type=",".join(types))


def _value(quotas: Any, region: str, quota: Quota) -> tuple[float | None, str | None]:
    """The quota's applied value, once per command; (None, why) when the quota API refuses or fails."""

    def read() -> tuple[float | None, str | None]:
        try:
            answer = aws.call(
                "reading a vCPU quota (service-quotas GetServiceQuota)",
                lambda: quotas.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=quota.code)["Quota"],
                quota_code=quota.code,
            )
        except CloudError as e:
            return None, f"{aws.error_code(e) or type(e).__name__}: {e.message}"
        return float(answer["Value"]), None

    return aws.remembered(("service-quotas", region, quota.code), read)


def _unread_notice(reading: Reading) -> str:
    return (
        f"warning: could not read quota '{reading.quota.name}' ({reading.quota.code}): {reading.problem}; "
        "going on without the quota check (allow servicequotas:GetServiceQuota to have it)"
    )


def _exceeded(first: Reading, need: int, what: str, region: str, others: list[Reading], instance_type: str) -> CloudError:
    def describe(r: Reading) -> str:
        return f"'{r.quota.name}' ({r.quota.code}) is {r.value:g} vCPUs with {r.used} in use"

    text = f"{what} {need} vCPUs in {region}, but the {first.market} quota {describe(first)}"
    text += "".join(f"; the {r.market} quota {describe(r)}" for r in others)
    hints = [_increase(r.quota, region, r.used + need) for r in (first, *others)]
    return CloudError(
        text + ": nothing was allocated",
        context={"region": region, "instance_type": instance_type, "quota_code": first.quota.code, "code": "QuotaExceeded"},
        hint="; ".join(hints) + " (increases take minutes to days; or pick a type from another quota group)",
    )


def _increase(quota: Quota, region: str, desired: float) -> str:
    return (
        f"request an increase at https://{region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/{quota.code} "
        f"or `aws service-quotas request-service-quota-increase --region {region} --service-code ec2 "
        f"--quota-code {quota.code} --desired-value {desired:g}`"
    )
