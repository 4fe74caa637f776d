"""check_plan: the pack's policies over an offline plan document, as `trainctl check` runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from orchestrator.policy.config import load_config, merge
from orchestrator.policy.evaluate import check_plan, job_team, plan_resources
from orchestrator.policy.pack import load_policies
from tests.policy.conftest import DYNAMIC, JOB_TAGS, manifest

REPO = Path(__file__).resolve().parents[2]
PROVIDER_REF = "urn:pulumi:j-1::trainctl::pulumi:pulumi:Stack$pulumi:providers:aws::aws::aws-offline-id"


def _plan(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"stack": "j-1", "project": "trainctl", "resources": list(entries)}


def _manifest(**overrides: Any) -> dict[str, Any]:
    """The shared test manifest as a plan document entry."""
    job = manifest(**overrides)
    return {"type": job.type, "name": job.name, "inputs": dict(job.props)}


PROVIDER = {
    "type": "pulumi:providers:aws",
    "name": "aws",
    "inputs": {"region": "us-east-1", "defaultTags": json.dumps({"tags": JOB_TAGS})},
}


def test_compliant_plan_has_no_violations() -> None:
    """Manifest, tagged provider, bucket with its settings: nothing to report."""
    flags = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    sse = {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}
    plan = _plan(
        _manifest(),
        PROVIDER,
        {"type": "aws:s3/bucket:Bucket", "name": "artifacts", "inputs": {"bucket": "b"}, "provider": PROVIDER_REF},
        {"type": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "name": "pab", "inputs": {"bucket": "b", **flags}},
        {
            "type": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "name": "sse",
            "inputs": sse,
        },
    )
    assert check_plan(plan, load_config()) == []


def test_violations_name_policy_level_resource_and_type() -> None:
    """A p5 on-demand manifest and an untagged bucket without its provider: each violation says where and what."""
    plan = _plan(
        _manifest(instance_type="p5.48xlarge", spot=False), {"type": "aws:s3/bucket:Bucket", "name": "artifacts", "inputs": {}}
    )
    found = {(v.policy, v.enforcement, v.resource, v.resource_type) for v in check_plan(plan, load_config())}
    assert ("max-hourly-cost", "mandatory", "job-manifest", DYNAMIC) in found
    assert ("spot-preferred", "advisory", "job-manifest", DYNAMIC) in found
    assert ("required-tags", "mandatory", "artifacts", "aws:s3/bucket:Bucket") in found
    assert ("private-artifacts", "mandatory", "artifacts", "aws:s3/bucket:Bucket") in found


def test_provider_reference_gives_a_resource_its_default_tags() -> None:
    """A resource whose plan entry references the tagged provider is tagged; the same without the reference is not."""
    tagged = {"type": "aws:iam/role:Role", "name": "role", "inputs": {}, "provider": PROVIDER_REF}
    untagged = {**tagged, "name": "bare", "provider": None}
    found = [(v.policy, v.resource) for v in check_plan(_plan(_manifest(), PROVIDER, tagged, untagged), load_config())]
    assert found == [("required-tags", "bare")]
    assert plan_resources(_plan(PROVIDER, tagged))[1].provider == PROVIDER["inputs"]


def test_levels_and_team_overrides_follow_the_config() -> None:
    """A disabled policy reports nothing; a team's override applies to that team's plan only."""
    policies = load_policies()
    plan = _plan(_manifest(instance_type="p5.48xlarge", spot=False))
    disabled = merge(load_config(), {"max-hourly-cost": "disabled", "spot-preferred": "disabled"}, policies, origin="t")
    assert check_plan(plan, disabled) == []
    for_vision = merge(load_config(), {"teams": {"vision": {"max-hourly-cost": "advisory"}}}, policies, origin="t")
    levels = {v.policy: v.enforcement for v in check_plan(plan, for_vision)}
    assert levels["max-hourly-cost"] == "advisory"
    assert {v.policy: v.enforcement for v in check_plan(plan, for_vision, team="llm")}["max-hourly-cost"] == "mandatory"


def test_job_team_comes_from_the_manifest_or_tags() -> None:
    """The plan's team is the manifest's, else the first trainctl:team tag."""
    assert job_team(plan_resources(_plan(_manifest(team="nlp")))) == "nlp"
    assert job_team(plan_resources(_plan({"type": DYNAMIC, "name": "w", "inputs": {"tags": JOB_TAGS}}))) == "vision"
    assert job_team(plan_resources(_plan())) is None


def test_a_team_adds_its_own_policy_by_dropping_in_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the pack with one more module (as docs/policies.md says) is loaded and enforced by check."""
    pack = tmp_path / "pack"
    shutil.copytree(REPO / "policies", pack, ignore=shutil.ignore_patterns("__pycache__"))
    (pack / "trainctl_policies" / "no_p3.py").write_text(
        "from orchestrator.policy.model import Finding, PolicyDef\n"
        "from trainctl_policies._common import instance_type\n\n\n"
        "def check(resource, config):\n"
        "    if (instance_type(resource) or '').startswith('p3.'):\n"
        "        yield Finding('p3 is retired here', 'use g5 or newer')\n\n\n"
        "POLICY = PolicyDef(name='no-p3', description='No p3 instances.', enforcement='mandatory', check=check)\n"
    )
    init = pack / "trainctl_policies" / "__init__.py"
    init.write_text(init.read_text().replace('    "allowed_regions",\n', '    "allowed_regions",\n    "no_p3",\n'))
    monkeypatch.setenv("TRAINCTL_POLICY_PACK", str(pack))
    found = check_plan(_plan(_manifest(instance_type="p3.2xlarge")), load_config())
    assert [(v.policy, v.enforcement, v.message) for v in found] == [("no-p3", "mandatory", "p3 is retired here")]
    monkeypatch.delenv("TRAINCTL_POLICY_PACK")
    assert "no-p3" not in {p.name for p in load_policies()}


def test_taggable_aws_types_match_the_pinned_sdk() -> None:
    """aws_taggable.txt lists exactly the pulumi-aws types with a tags input (regenerate after an upgrade)."""
    import pulumi_aws

    from orchestrator.policy.pack import load_module

    aws = load_module("_aws")
    assert aws.scan_sdk(Path(pulumi_aws.__file__).parent) == set(aws.taggable_types())


def test_check_adds_the_manifest_only_when_the_program_did_not_declare_it(tmp_path: Path) -> None:
    """with_manifest puts the job manifest first when missing, and leaves a plan that has one alone."""
    from orchestrator.compile import compile_job
    from orchestrator.jobs.records import JobPrices
    from orchestrator.policy.check import with_manifest
    from orchestrator.settings import get_settings
    from orchestrator.spec.loader import load_spec
    from tests.conftest import write_job

    job = compile_job(
        load_spec(write_job(tmp_path)), "lifecycle-test-abc", get_settings(), prices=JobPrices(hourly_usd=0.0), read_env=False
    )
    plan = with_manifest(_plan({"type": DYNAMIC, "name": "workdir", "inputs": {"tags": JOB_TAGS}}), job)
    assert [r["name"] for r in plan["resources"]] == ["job-manifest", "workdir"]
    assert plan["resources"][0]["inputs"]["kind"] == "trainctl:job"
    assert with_manifest(plan, job) == plan
