"""The engine adapter: pulumi_policy validation args in, the same plain checks, reports with the fix."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from orchestrator.policy.model import COMPUTED
from orchestrator.policy.pack import defaults_path, load_module
from tests.policy.conftest import DYNAMIC, JOB_TAGS, policy

OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _args(type_: str, name: str, props: dict[str, Any], config: dict[str, Any], **kwargs: Any) -> ResourceValidationArgs:
    urn = f"urn:pulumi:job::trainctl::{type_}::{name}"
    return ResourceValidationArgs(
        type_, unknown_checking_proxy(props), urn, name, OPTS, kwargs.get("provider"), config, kwargs.get("tags")
    )


def _validate(name: str, args: ResourceValidationArgs) -> list[str]:
    reports: list[str] = []
    load_module("adapter").resource_validator(policy(name))(args, lambda message, urn: reports.append(message))
    return reports


def test_violation_is_reported_with_its_fix_line() -> None:
    """A manifest over the cap is reported once: the message, then 'fix: ...' on its own line."""
    props = {"kind": "trainctl:job", "target": "local", "hourly_usd": 50.0, "team": "vision", "tags": dict(JOB_TAGS)}
    [report] = _validate("max-hourly-cost", _args(DYNAMIC, "job-manifest", props, {"maxUsd": 40.0}))
    message, fix = report.split("\n")
    assert message.startswith("50.00 USD/hour") and fix.startswith("fix: choose a cheaper")


def test_unknown_values_reach_policies_as_computed() -> None:
    """Preview unknowns arrive as COMPUTED (not an exception): an unknown httpTokens gives no verdict."""
    adapter = load_module("adapter")
    props = unknown_checking_proxy({"metadataOptions": {"httpTokens": UNKNOWN_STRING_VALUE}, "list": [UNKNOWN_STRING_VALUE]})
    assert adapter.plain(props) == {"metadataOptions": {"httpTokens": COMPUTED}, "list": [COMPUTED]}
    template = {"metadataOptions": {"httpTokens": UNKNOWN_STRING_VALUE}}
    assert _validate("imdsv2-required", _args("aws:ec2/launchTemplate:LaunchTemplate", "lt", template, {})) == []


def test_provider_default_tags_are_seen_by_required_tags() -> None:
    """The resource's provider (with defaultTags) travels to the policy, as the engine sends it."""
    provider = PolicyProviderResource(
        "pulumi:providers:aws",
        {"defaultTags": json.dumps({"tags": JOB_TAGS})},
        "urn:pulumi:job::trainctl::pulumi:providers:aws::aws",
        "aws",
    )
    bucket = _args("aws:s3/bucket:Bucket", "artifacts", {"bucket": "b"}, {}, provider=provider)
    assert _validate("required-tags", bucket) == []
    assert _validate("required-tags", _args("aws:s3/bucket:Bucket", "artifacts", {"bucket": "b"}, {}))


def test_team_overrides_carried_in_the_engine_config_are_resolved_by_the_pack() -> None:
    """Without a resolved config, the pack applies the resource's team's properties and skips a team's disabled policy."""
    props = {
        "kind": "trainctl:job",
        "target": "local",
        "hourly_usd": 50.0,
        "team": "llm",
        "tags": {**JOB_TAGS, "trainctl:team": "llm"},
    }
    raised = {"maxUsd": 40.0, "teams": {"llm": {"maxUsd": 100.0}}}
    assert _validate("max-hourly-cost", _args(DYNAMIC, "job-manifest", props, raised)) == []
    disabled = {"maxUsd": 40.0, "teams": {"llm": "disabled"}}
    assert _validate("max-hourly-cost", _args(DYNAMIC, "job-manifest", props, disabled)) == []
    untagged = {k: v for k, v in props.items() if k != "tags"}
    by_stack_tag = _args(DYNAMIC, "job-manifest", untagged, raised, tags={"trainctl:team": "llm"})
    assert _validate("max-hourly-cost", by_stack_tag) == []
    assert _validate("max-hourly-cost", _args(DYNAMIC, "job-manifest", untagged, raised))


def test_stack_policy_sees_property_dependencies_and_reports_the_resource_urn() -> None:
    """The stack validator pairs settings through property dependencies and names the offending bucket's URN."""
    bucket_urn = "urn:pulumi:job::trainctl::aws:s3/bucket:Bucket::artifacts"
    bucket = PolicyResource("aws:s3/bucket:Bucket", unknown_checking_proxy({}), bucket_urn, "artifacts", OPTS, None, None, [], {})
    flags = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    pab = PolicyResource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        unknown_checking_proxy({**flags, "bucket": UNKNOWN_STRING_VALUE}),
        "urn:pulumi:job::trainctl::aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::pab",
        "pab",
        OPTS,
        None,
        None,
        [bucket],
        {"bucket": [bucket]},
    )
    reports: list[tuple[str, str | None]] = []
    validate = load_module("adapter").stack_validator(policy("private-artifacts"))
    validate(StackValidationArgs([bucket, pab], {}), lambda message, urn: reports.append((message, urn)))
    assert [(m.split("\n")[0], urn) for m, urn in reports] == [
        ("bucket artifacts has no server-side encryption configuration", bucket_urn)
    ]


def test_policies_become_resource_or_stack_policies_with_schema_and_level() -> None:
    """to_pulumi keeps the name, default level and config schema (plus 'teams'); stack checks become stack policies."""
    adapter = load_module("adapter")
    hourly = adapter.to_pulumi(policy("max-hourly-cost"))
    assert isinstance(hourly, ResourceValidationPolicy) and hourly.enforcement_level == EnforcementLevel.MANDATORY
    assert set(hourly.config_schema.properties) == {"maxUsd", "teams"}
    assert isinstance(adapter.to_pulumi(policy("private-artifacts")), StackValidationPolicy)
    assert adapter.to_pulumi(policy("spot-preferred")).enforcement_level == EnforcementLevel.ADVISORY


def test_initial_config_turns_default_levels_into_enforcement_levels() -> None:
    """defaults.json becomes PolicyPack initial_config: levels as EnforcementLevel, properties kept."""
    initial = load_module("adapter").initial_config(defaults_path())
    assert initial["max-hourly-cost"] == {"enforcementLevel": EnforcementLevel.MANDATORY, "maxUsd": 40}
    assert initial["spot-preferred"]["enforcementLevel"] == EnforcementLevel.ADVISORY
