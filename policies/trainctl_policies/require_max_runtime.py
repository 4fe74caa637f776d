"""require-max-runtime: jobs on cloud targets set limits.max_runtime."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.policy.model import Finding, PolicyDef, Props, Resource
from trainctl_policies._common import is_manifest, items, number

CONFIG = {"targets": {"type": "array", "items": {"type": "string"}, "description": "targets whose jobs need a max_runtime"}}


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """A manifest on one of ``targets`` (default: aws) without ``max_runtime_s``."""
    if not is_manifest(resource):
        return
    target = resource.props.get("target")
    if target not in items(config.get("targets", ["aws"])):
        return
    if number(resource.props.get("max_runtime_s")) is not None:
        return
    yield Finding(
        f"jobs on target {target} must set limits.max_runtime (an instance left running bills until someone notices)",
        "set limits.max_runtime in the job spec, e.g. `limits: {max_runtime: 4h}`",
    )


POLICY = PolicyDef(
    name="require-max-runtime",
    description="Jobs on cloud targets set limits.max_runtime.",
    enforcement="mandatory",
    config=CONFIG,
    check=check,
    remediation="Add limits.max_runtime to the spec; the agent stops the run (with a checkpoint) when it is reached.",
)
