"""The job manifest: its facts, its do-nothing provider, and that later resources depend on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from orchestrator.compile import CompiledJob, compile_job
from orchestrator.jobs.records import JobPrices
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.targets.manifest import JobManifest, ManifestProvider, _after, declare_manifest, manifest_props
from tests.conftest import write_job


def _job(tmp_path: Path, extra: str = "", target: str | None = None) -> CompiledJob:
    loaded = load_spec(write_job(tmp_path, extra=extra))
    if target:
        loaded = loaded.with_target(target)
    return compile_job(loaded, "lifecycle-test-abc", get_settings(), prices=JobPrices(hourly_usd=1.25), read_env=False)


def test_local_manifest_carries_identity_limits_and_price_but_no_cloud_facts(tmp_path: Path) -> None:
    """A local job's manifest: job, team, limits, hourly price and tags; no instance type, region or disk."""
    props = manifest_props(_job(tmp_path, extra="limits:\n  max_runtime: 2h\n  max_cost_usd: 3\n"))
    assert props["kind"] == "trainctl:job" and props["target"] == "local" and props["team"] == "test-team"
    assert (props["max_runtime_s"], props["max_cost_usd"], props["hourly_usd"]) == (7200, 3.0, 1.25)
    assert props["instance_type"] is None and props["region"] is None and props["disk_gb"] is None and props["spot"] is False
    assert props["tags"]["trainctl:job-id"] == "lifecycle-test-abc"


def test_aws_manifest_carries_instance_region_spot_and_disk(tmp_path: Path) -> None:
    """An AWS job's manifest has what pricing needs: type, region (default setting), spot, fallback, disk."""
    extra = "resources:\n  instance_type: g5.xlarge\n  spot: true\n  on_demand_fallback: false\n  disk_gb: 80\n"
    props = manifest_props(_job(tmp_path, extra=extra, target="aws"))
    assert (props["instance_type"], props["region"], props["spot"], props["on_demand_fallback"], props["disk_gb"]) == (
        "g5.xlarge",
        "us-east-1",
        True,
        False,
        80,
    )


def test_provider_hands_inputs_back_and_touches_nothing() -> None:
    """create: the job id and the inputs; diff: changes only when an input changes; delete: nothing."""
    provider = ManifestProvider()
    props = {"job_id": "j-1", "kind": "trainctl:job", "hourly_usd": 1.0}
    created = provider.create(props)
    assert created.id == "j-1" and created.outs == props
    assert provider.diff("j-1", props, dict(props)).changes is False
    assert provider.diff("j-1", props, {**props, "hourly_usd": 2.0}).changes is True
    assert provider.delete("j-1", props) is None


def test_later_resources_depend_on_the_manifest() -> None:
    """The stack transformation adds the manifest to every other resource's depends_on, keeping their options."""
    manifest: Any = JobManifest.__new__(JobManifest)  # resources that never registered: no runtime needed
    others: Any = JobManifest.__new__(JobManifest)
    opts = pulumi.ResourceOptions(retain_on_delete=True)
    result = _after(manifest)(pulumi.ResourceTransformationArgs(others, "t", "n", {"a": 1}, opts))
    assert result.props == {"a": 1} and result.opts.retain_on_delete is True
    assert manifest in result.opts.depends_on
    assert _after(manifest)(pulumi.ResourceTransformationArgs(manifest, "t", "n", {}, opts)) is None


def test_declaring_twice_in_one_program_declares_it_once(tmp_path: Path) -> None:
    """A wrapper and the target may both call declare_manifest: the offline plan holds one manifest."""
    from orchestrator.lifecycle.offline_plan import offline_plan

    job = _job(tmp_path)

    def program() -> None:
        first = declare_manifest(job)
        assert declare_manifest(job) is first

    plan = offline_plan(job, program)
    assert [(r["type"], r["name"]) for r in plan["resources"]] == [("pulumi-python:dynamic:Resource", "job-manifest")]
