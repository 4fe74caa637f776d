"""The EFA table (orchestrator/targets/aws/efa.py) agrees with EC2's own instance type data, as the emulator ships it."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.cost.catalog import load_catalog
from orchestrator.targets.aws import efa
from orchestrator.testing.moto_server import MotoServer

pytestmark = pytest.mark.moto


def _network_info(types: list[str]) -> dict[str, dict[str, Any]]:
    ec2 = aws.client("ec2", region="us-east-1")
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(types), 100):  # DescribeInstanceTypes takes at most 100 names
        answer = ec2.describe_instance_types(InstanceTypes=types[start : start + 100])
        found.update({t["InstanceType"]: t["NetworkInfo"] for t in answer["InstanceTypes"]})
    return found


def test_every_entry_is_an_efa_type_with_that_many_interfaces(moto: MotoServer) -> None:
    """Each type in the table has EfaSupported and the table's MaximumEfaInterfaces in DescribeInstanceTypes."""
    info = _network_info(sorted(efa.EFA_INTERFACES))
    assert set(info) == set(efa.EFA_INTERFACES)
    wrong = {
        t: n
        for t, n in efa.EFA_INTERFACES.items()
        if not info[t].get("EfaSupported") or info[t]["EfaInfo"]["MaximumEfaInterfaces"] != n
    }
    assert wrong == {}


def test_no_priced_efa_type_is_missing(moto: MotoServer) -> None:
    """Every instance type trainctl's price catalog knows that EC2 says has EFA is in the table (none forgotten)."""
    catalog = load_catalog()
    priced = {t for region in catalog.regions() for t in catalog.instance_types(region)}
    pages = aws.client("ec2", region="us-east-1").get_paginator("describe_instance_types")
    filters = [{"Name": "network-info.efa-supported", "Values": ["true"]}]
    with_efa = {t["InstanceType"] for page in pages.paginate(Filters=filters) for t in page["InstanceTypes"]}
    assert {"p4d.24xlarge", "p5.48xlarge"} <= with_efa
    assert sorted((with_efa & priced) - set(efa.EFA_INTERFACES)) == []


def test_notice_says_what_a_multi_card_type_gets() -> None:
    """p4d.24xlarge takes 4 EFA interfaces, trainctl attaches 1 and says why; a 1-interface type needs no notice."""
    notice = efa.efa_notice("p4d.24xlarge")
    assert notice is not None and "4 EFA interfaces" in notice and "attaches 1" in notice
    assert efa.efa_notice("g5.12xlarge") is None
    assert "no EFA" in (efa.efa_notice("t3.micro") or "")
