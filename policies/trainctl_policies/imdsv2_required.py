"""imdsv2-required: instances and launch templates require IMDSv2 session tokens."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.policy.model import COMPUTED, Finding, PolicyDef, Props, Resource
from trainctl_policies._common import EC2_INSTANCES, obj


def check(resource: Resource, config: Props) -> Iterator[Finding]:
    """``metadataOptions.httpTokens`` must be ``required`` (unless the metadata endpoint is disabled)."""
    if resource.type not in EC2_INSTANCES:
        return
    options = resource.props.get("metadataOptions")
    if options == COMPUTED:
        return
    tokens = obj(options).get("httpTokens")
    if tokens == COMPUTED or tokens == "required" or obj(options).get("httpEndpoint") == "disabled":
        return
    state = f"is {tokens!r}" if tokens else "is not set (EC2 then allows IMDSv1)"
    yield Finding(
        f"metadataOptions.httpTokens {state}: credentials would be readable without a session token",
        "set metadata_options={'http_tokens': 'required'} on the instance or launch template",
    )


POLICY = PolicyDef(
    name="imdsv2-required",
    description="EC2 instances require IMDSv2 (session tokens) for instance metadata.",
    enforcement="mandatory",
    check=check,
    remediation="Set metadataOptions.httpTokens to 'required'.",
)
