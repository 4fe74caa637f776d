"""no-open-ingress: no security group rule admits the whole internet (0.0.0.0/0 or ::/0)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import items, known, obj

GROUPS = frozenset({"aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"})
RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
FIX = (
    "restrict the source to known CIDR ranges or a security group; trainctl jobs need no inbound access (use SSM Session Manager)"
)


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """Ingress rules of security groups, group rules and VPC ingress rules open to every address."""
    if resource.type in GROUPS:
        for i, rule in enumerate(items(resource.props.get("ingress"))):
            yield from _open(obj(rule), ("cidrBlocks", "ipv6CidrBlocks"), f"ingress rule {i} ")
    elif resource.type == RULE and resource.props.get("type") == "ingress":
        yield from _open(resource.props, ("cidrBlocks", "ipv6CidrBlocks"), "")
    elif resource.type == INGRESS_RULE:
        yield from _open(resource.props, ("cidrIpv4", "cidrIpv6"), "")


def _open(rule: Mapping[str, Any], keys: tuple[str, ...], label: str) -> Iterator[Finding]:
    sources = [c for key in keys for c in ([rule.get(key)] if isinstance(rule.get(key), str) else items(rule.get(key)))]
    for cidr in sources:
        if known(cidr) and _everyone(str(cidr)):
            yield Finding(f"{label}({_ports(rule)}) admits {cidr}, every address on the internet", FIX)


def _everyone(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _ports(rule: Mapping[str, Any]) -> str:
    protocol = rule.get("protocol", rule.get("ipProtocol"))
    low, high = rule.get("fromPort"), rule.get("toPort")
    if str(protocol) == "-1":
        return "all traffic"
    span = f"{int(low)}" if low == high and low is not None else f"{low}-{high}"
    return f"{protocol} port {span}"


POLICY = PolicyDef(
    name="no-open-ingress",
    description="Security groups admit no inbound traffic from 0.0.0.0/0 or ::/0.",
    enforcement="mandatory",
    check=check,
    remediation="Limit ingress to known address ranges or security groups; reach instances through SSM instead of SSH.",
)
