"""What `plan` and `up` check on AWS before anything is allocated.

- Root volume: at least the image's root snapshot (EC2 refuses less); the spec's ``disk_gb`` is raised
  with a notice, so the plan shows and prices the size that will be launched.
- Zones: the region must offer the instance type in some availability zone; otherwise the error names
  the regions whose prices the catalog knows for it.
- Quotas: the vCPU quota of the type's group has room in the market the job launches in; a spot
  quota without room and on-demand fallback allowed means on-demand straight away (``spot`` off).

Offline (``plan --offline``) only the root volume is checked, from the packaged image table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.errors import InvalidInputError
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets.aws import images
from orchestrator.targets.base import Preflight


def preflight(loaded: LoadedSpec, *, region: str, offline: bool) -> Preflight:
    """Check ``loaded`` for ``region``; return the spec to allocate with notices and the facts found."""
    resources = loaded.spec.resources
    instance_type = resources.instance_type
    assert instance_type is not None
    if offline:
        volume = images.known_root_volume(instance_type, resources.disk_gb, resources.ami)
        return _adjusted(loaded, volume, on_demand_only=False, notices=[], facts={"root_volume": volume.to_dict()})

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
    )
    facts = {"root_volume": volume.to_dict(), "zones": sorted(zones), "quotas": verdict.to_dict()}
    return _adjusted(loaded, volume, on_demand_only=verdict.on_demand_only, notices=verdict.notices, facts=facts)


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
