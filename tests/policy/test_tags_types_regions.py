"""required-tags, allowed-instance-types and allowed-regions."""

from __future__ import annotations

import json

from orchestrator.policy.config import load_config, merge
from orchestrator.policy.model import COMPUTED, Resource
from orchestrator.policy.pack import load_policies
from tests.policy.conftest import DYNAMIC, JOB_TAGS, aws, findings, local_manifest, manifest


def _with(overlay: dict[str, object]) -> dict[str, object]:
    return merge(load_config(), overlay, load_policies(), origin="test")


def test_fully_tagged_resources_pass() -> None:
    """A dynamic resource and an AWS instance carrying every job tag pass."""
    assert findings("required-tags", Resource(DYNAMIC, "workdir", {"tags": dict(JOB_TAGS)})) == []
    assert findings("required-tags", aws("ec2/instance:Instance", {"tags": dict(JOB_TAGS)})) == []


def test_missing_tags_are_listed_with_the_spec_field_to_set() -> None:
    """Missing team and owner tags are named; the fix names the spec fields."""
    tags = {k: v for k, v in JOB_TAGS.items() if k not in ("trainctl:team", "trainctl:owner")}
    [finding] = findings("required-tags", Resource(DYNAMIC, "workdir", {"tags": tags}))
    assert finding.message == "missing tags trainctl:team, trainctl:owner"
    assert finding.fix == "set `team:`, `owner:` in the job spec"


def test_untagged_taggable_aws_resource_is_a_violation() -> None:
    """An S3 bucket without tags (and no provider default tags) misses every job tag."""
    [finding] = findings("required-tags", aws("s3/bucket:Bucket", {"bucket": "b"}))
    assert all(tag in finding.message for tag in JOB_TAGS)


def test_provider_default_tags_count_as_the_resource_tags() -> None:
    """Tags given as the AWS provider's defaultTags (JSON text, as providers receive them) satisfy the policy."""
    provider = {"region": "us-east-1", "defaultTags": json.dumps({"tags": JOB_TAGS})}
    assert findings("required-tags", aws("s3/bucket:Bucket", {"bucket": "b"}, provider=provider)) == []


def test_untaggable_and_non_aws_resources_are_not_judged() -> None:
    """A bucket public access block takes no tags; a provider is not a resource to tag."""
    assert findings("required-tags", aws("s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"bucket": "b"})) == []
    assert findings("required-tags", Resource("pulumi:providers:aws", "aws", {"region": "us-east-1"})) == []


def test_unknown_tags_are_not_judged_during_preview() -> None:
    """Tags not known yet (computed) give no verdict rather than a guess."""
    assert findings("required-tags", Resource(DYNAMIC, "x", {"tags": COMPUTED})) == []


def test_tag_values_must_match_the_configured_patterns() -> None:
    """managed-by must be trainctl (default); a configured owner pattern refuses other domains."""
    bad = {**JOB_TAGS, "trainctl:managed-by": "terraform"}
    [finding] = findings("required-tags", Resource(DYNAMIC, "x", {"tags": bad}))
    assert "trainctl:managed-by='terraform'" in finding.message
    config = _with({"required-tags": {"values": {"trainctl:owner": ["*@corp.example"]}}})
    [finding] = findings("required-tags", Resource(DYNAMIC, "x", {"tags": dict(JOB_TAGS)}), config)
    assert "alice@example.com" in finding.message and finding.fix == "change the spec's `owner:` to match one of: *@corp.example"


def test_required_tag_list_is_configurable() -> None:
    """A config requiring trainctl:cost-center refuses resources without it."""
    config = _with({"required-tags": {"tags": [*JOB_TAGS, "trainctl:cost-center"]}})
    [finding] = findings("required-tags", Resource(DYNAMIC, "x", {"tags": dict(JOB_TAGS)}), config)
    assert finding.message == "missing tag trainctl:cost-center" and "cost_center" in finding.fix


def test_default_instance_types_allow_common_ml_families() -> None:
    """g5, p5 and c5 types match the default patterns."""
    for itype in ("g5.xlarge", "p5.48xlarge", "c5.large"):
        assert findings("allowed-instance-types", manifest(instance_type=itype)) == []


def test_instance_type_outside_patterns_is_refused_on_manifest_and_template() -> None:
    """x2iedn.32xlarge matches no default pattern: the manifest and an EC2 launch template are both refused."""
    [finding] = findings("allowed-instance-types", manifest(instance_type="x2iedn.32xlarge"))
    assert "x2iedn.32xlarge is not allowed for team vision" in finding.message
    template = aws("ec2/launchTemplate:LaunchTemplate", {"instanceType": "x2iedn.32xlarge", "tags": dict(JOB_TAGS)})
    assert findings("allowed-instance-types", template)


def test_team_instance_type_patterns_replace_the_default() -> None:
    """A team allowed only g5.* is refused a p5 that the default allows."""
    config = _with({"teams": {"vision": {"allowed-instance-types": {"allowed": ["g5.*"]}}}})
    assert findings("allowed-instance-types", manifest(instance_type="p5.48xlarge"), config)
    assert findings("allowed-instance-types", manifest(instance_type="p5.48xlarge"), config, team="llm") == []


def test_local_jobs_have_no_instance_type_or_region_to_judge() -> None:
    """A local manifest is not judged by instance type or region policies."""
    assert findings("allowed-instance-types", local_manifest()) == []
    assert findings("allowed-regions", local_manifest()) == []


def test_regions_outside_the_allowed_list_are_refused() -> None:
    """ap-south-1 is not in the default list: manifest and AWS provider are refused; us-west-2 passes."""
    assert findings("allowed-regions", manifest(region="us-west-2")) == []
    [finding] = findings("allowed-regions", manifest(region="ap-south-1"))
    assert "region ap-south-1 is not allowed" in finding.message and "resources.region" in finding.fix
    assert findings("allowed-regions", Resource("pulumi:providers:aws", "aws", {"region": "ap-south-1"}))
