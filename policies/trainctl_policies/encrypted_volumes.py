"""encrypted-volumes: every EBS volume an instance, launch template or volume declares is encrypted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from orchestrator.policy.model import COMPUTED, Finding, PolicyDef, Props, Resource
from trainctl_policies._common import flag, items, obj

INSTANCES = frozenset({"aws:ec2/instance:Instance", "aws:ec2/spotInstanceRequest:SpotInstanceRequest"})
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VOLUMES = frozenset({"aws:ebs/volume:Volume", "aws:ec2/volume:Volume"})
FIX = "set encrypted=True on every block device (a launch template's ebs.encrypted takes the string 'true')"


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """Root and data volumes of instances, block device mappings of launch templates, EBS volumes."""
    props = resource.props
    if resource.type in INSTANCES:
        root = props.get("rootBlockDevice")
        if root != COMPUTED:
            yield from _unencrypted(obj(root), "rootBlockDevice (the root volume)")
        for device in items(props.get("ebsBlockDevices")):
            yield from _unencrypted(obj(device), f"ebsBlockDevices {obj(device).get('deviceName', '?')}")
    elif resource.type == TEMPLATE:
        yield from _template(props)
    elif resource.type in VOLUMES:
        yield from _unencrypted(props, "the volume")


def _template(props: Props) -> Iterator[Finding]:
    mappings = props.get("blockDeviceMappings")
    if mappings == COMPUTED:
        return
    ebs = [obj(m) for m in items(mappings) if not obj(m).get("noDevice") and not obj(m).get("virtualName")]
    if not ebs:
        yield Finding("declares no block device mapping: the root volume is encrypted only if the AMI or account says so", FIX)
    for mapping in ebs:
        yield from _unencrypted(obj(mapping.get("ebs")), f"blockDeviceMappings {mapping.get('deviceName', '?')}")


def _unencrypted(device: Mapping[str, Any], what: str) -> Iterator[Finding]:
    if flag(device.get("encrypted")) is False:
        state = "is not encrypted" if "encrypted" in device else "is not declared encrypted"
        yield Finding(f"{what} {state}", FIX)


POLICY = PolicyDef(
    name="encrypted-volumes",
    description="EBS volumes are encrypted.",
    enforcement="mandatory",
    check=check,
    remediation="Declare encrypted=True on root and data volumes (launch templates: ebs.encrypted 'true').",
)
