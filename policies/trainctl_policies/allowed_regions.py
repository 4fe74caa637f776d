"""allowed-regions: cloud jobs (and AWS providers) use allowed regions only."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import for_team, is_cloud_job, is_manifest, items, known, matches

AWS_PROVIDER = "pulumi:providers:aws"
CONFIG = {"allowed": {"type": "array", "items": {"type": "string"}, "description": "glob patterns of allowed regions"}}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """The region of a cloud job's manifest or of an AWS provider, against ``allowed``."""
    if not ((is_manifest(resource) and is_cloud_job(resource)) or resource.type == AWS_PROVIDER):
        return
    region = resource.props.get("region")
    if not known(region):
        return
    allowed = [str(p) for p in items(config.get("allowed", ["*"]))]
    if matches(str(region), allowed):
        return
    yield Finding(
        f"region {region} is not allowed{for_team(resource)} (allowed: {', '.join(allowed) or 'none'})",
        "set resources.region to an allowed region",
    )


POLICY = PolicyDef(
    name="allowed-regions",
    description="Cloud resources are created in allowed regions only.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Set resources.region (or the default region setting) to one of the allowed regions.",
)
