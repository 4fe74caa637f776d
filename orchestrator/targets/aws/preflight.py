"""What `plan` and `up` check on AWS before anything is allocated.

- Root volume: at least the image's root snapshot (EC2 refuses less); the spec's ``disk_gb`` is raised
  with a notice, so the plan shows and prices the size that will be launched.
- Zones: the region must offer the instance type in some availability zone; otherwise the error names
  the regions whose prices the catalog knows for it.
- Quotas: the vCPU quota of the type's group has room in the market the job launches in (for all of a
  multi-node job's instances); a spot quota without room and on-demand fallback allowed means
  on-demand straight away (``spot`` off).

- Nodes: a multi-node job's plan lists every node (its rank, instance, root volume, network interface,
  the placement group they share) and says what EFA the instance type gets (``efa.py``).

Offline (``plan --offline``) only the root volume is checked, from the packaged image table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.errors import InvalidInputError
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets.aws import efa, images
from orchestrator.targets.base import Preflight


def preflight(loaded: LoadedSpec, *, region: str, offline: bool) -> Preflight:
    """Check ``loaded`` for ``region``; return the spec to allocate with notices and the facts found."""
    resources = loaded.spec.resources
    instance_type = resources.instance_type
    assert instance_type is not None
    if offline:
        volume = images.known_root_volume(instance_type, resources.disk_gb, resources.ami)
        facts, notices = _with_nodes(loaded, volume, {"root_volume": volume.to_dict()}, [])
        return _adjusted(loaded, volume, on_demand_only=False, notices=notices, facts=facts)

    from orchestrator.cloud import aws
    from orchestrator.targets.aws import compute, quotas

    ec2 = aws.client("ec2", region=region, max_attempts=aws.CALL_MAX_ATTEMPTS)
    zones = compute.offered_zones(ec2, instance_type)
    if not zones:
        raise _not_offered(instance_type, region)
    ssm = aws.client("ssm", region=region, max_attempts=aws.CALL_MAX_ATTEMPTS)
    volume = images.root_volume(ssm, ec2, instance_type, resources.disk_gb, resources.ami)
    verdict = quotas.check(
        aws.client("service-quotas", region=region, max_attempts=aws.CALL_MAX_ATTEMPTS),
        ec2,
        region=region,
        instance_type=instance_type,
        spot=resources.spot,
        fallback=resources.on_demand_fallback,
        nodes=resources.nodes,
    )
    facts = {"root_volume": volume.to_dict(), "zones": sorted(zones), "quotas": verdict.to_dict()}
    facts, notices = _with_nodes(loaded, volume, facts, verdict.notices)
    return _adjusted(loaded, volume, on_demand_only=verdict.on_demand_only, notices=notices, facts=facts)


def node_facts(instance_type: str, nodes: int, root_gb: int, *, spot: bool, fallback: bool) -> list[dict[str, Any]]:
    """Every node of a multi-node job as the plan lists it, rank order (rank 0's address is MASTER_ADDR)."""
    market = "on-demand"
    if spot:
        market = "spot (the whole group falls back to on-demand)" if fallback else "spot (all nodes or none)"
    network = "EFA" if efa.supports_efa(instance_type) else "ENA (no EFA on this type)"
    return [
        {
            "rank": rank,
            "instance_type": instance_type,
            "market": market,
            "root_volume_gb": root_gb,
            "network_interface": network,
            "placement_group": "cluster",
            "security_group": "shared; admits only the job's own nodes",
            "role": "rendezvous (MASTER_ADDR)" if rank == 0 else "worker",
        }
        for rank in range(nodes)
    ]


def _with_nodes(
    loaded: LoadedSpec, volume: images.RootVolume, facts: dict[str, Any], notices: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The facts and notices of a multi-node job: every node, and what EFA its type gets (one node: unchanged)."""
    resources = loaded.spec.resources
    if resources.nodes == 1 or resources.instance_type is None:
        return facts, notices
    rows = node_facts(
        resources.instance_type,
        resources.nodes,
        volume.effective_gb,
        spot=resources.spot,
        fallback=resources.on_demand_fallback,
    )
    extra = efa.efa_notice(resources.instance_type)
    return {**facts, "nodes": rows}, [*notices, *([extra] if extra else [])]


def _adjusted(
    loaded: LoadedSpec, volume: images.RootVolume, *, on_demand_only: bool, notices: list[str], facts: dict[str, Any]
) -> Preflight:
    resources = loaded.spec.resources
    changes: dict[str, Any] = {}
    shown = [line for line in [volume.notice(), *notices] if line]
    if volume.enlarged:
        changes["disk_gb"] = volume.effective_gb
    if on_demand_only:
        changes["spot"] = False
    if not changes:
        return Preflight(loaded, shown, facts)
    spec = loaded.spec.model_copy(update={"resources": resources.model_copy(update=changes)})
    return Preflight(replace(loaded, spec=spec), shown, facts)


def _not_offered(instance_type: str, region: str) -> InvalidInputError:
    from orchestrator.cost.catalog import current_catalog

    catalog = current_catalog()
    priced = [r for r in catalog.regions() if r != region and instance_type in catalog.instance_types(r)]
    where = f"regions that price it in trainctl's catalog: {', '.join(priced)}" if priced else "the catalog knows no other"
    return InvalidInputError(
        f"instance type {instance_type} is not offered in any availability zone of {region}",
        context={"instance_type": instance_type, "region": region},
        hint=f"set resources.region to a region that offers it ({where}), or choose another instance type",
    )
