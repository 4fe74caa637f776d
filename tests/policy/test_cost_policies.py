"""max-hourly-cost, max-job-cost, require-max-runtime and spot-preferred on the job manifest."""

from __future__ import annotations

import pytest

from tests.policy.conftest import aws, findings, local_manifest, manifest


def test_default_hourly_cap_passes_a_g5_job() -> None:
    """A g5.xlarge (about 1 USD/hour) is far under the default 40 USD/hour cap."""
    assert findings("max-hourly-cost", manifest()) == []


def test_p5_over_default_hourly_cap_is_named_with_its_price() -> None:
    """A p5.48xlarge on-demand (55.04 USD/hour in us-east-1) breaks the 40 USD/hour cap; message says both."""
    [finding] = findings("max-hourly-cost", manifest(instance_type="p5.48xlarge", spot=False))
    assert "55.04 USD/hour" in finding.message and "40.00 USD/hour" in finding.message and "team vision" in finding.message
    assert "instance_type" in finding.fix


def test_spot_with_fallback_is_priced_on_demand_but_pure_spot_at_spot() -> None:
    """Spot that may fall back to on-demand is judged at on-demand; spot without fallback at the spot price."""
    assert findings("max-hourly-cost", manifest(instance_type="p5.48xlarge", spot=True, on_demand_fallback=True))
    assert findings("max-hourly-cost", manifest(instance_type="p5.48xlarge", spot=True, on_demand_fallback=False)) == []


def test_local_price_over_the_cap_is_a_violation() -> None:
    """A local job is judged at TRAINCTL_LOCAL_HOURLY_USD, as carried in the manifest."""
    assert findings("max-hourly-cost", local_manifest(hourly_usd=39.0)) == []
    [finding] = findings("max-hourly-cost", local_manifest(hourly_usd=50.0))
    assert "TRAINCTL_LOCAL_HOURLY_USD" in finding.message


def test_team_cap_override_applies_to_that_team_only() -> None:
    """A team's maxUsd replaces the default for that team; other teams keep the default."""
    from orchestrator.policy.config import load_config, merge
    from orchestrator.policy.pack import load_policies

    config = merge(load_config(), {"teams": {"llm": {"max-hourly-cost": {"maxUsd": 120}}}}, load_policies(), origin="test")
    p5 = manifest(instance_type="p5.48xlarge", spot=False)
    assert findings("max-hourly-cost", p5, config, team="llm") == []
    assert findings("max-hourly-cost", p5, config, team="vision")


def test_unpriced_instance_type_cannot_pass_the_cap() -> None:
    """An instance type the catalog does not price is a violation saying what is known nearby."""
    [finding] = findings("max-hourly-cost", manifest(instance_type="g5.99xlarge"))
    assert "cannot check" in finding.message and "g5" in finding.fix


def test_non_manifest_resources_are_not_priced() -> None:
    """Cost policies read the manifest only (an EC2 launch template alone is not a job)."""
    template = aws("ec2/launchTemplate:LaunchTemplate", {"instanceType": "p5.48xlarge"})
    assert findings("max-hourly-cost", template) == [] and findings("max-job-cost", template) == []


def test_job_cost_under_cap_passes() -> None:
    """A 2-hour g5.xlarge job with a 20 USD budget is well under the 500 USD cap."""
    assert findings("max-job-cost", manifest()) == []


def test_hourly_times_runtime_plus_storage_over_cap_is_a_violation() -> None:
    """p4d.24xlarge on-demand for 24h (about 527 USD plus disk) breaks the 500 USD cap; the fix names a shorter runtime."""
    [finding] = findings(
        "max-job-cost", manifest(instance_type="p4d.24xlarge", spot=False, max_runtime_s=86400, max_cost_usd=None)
    )
    assert "527." in finding.message and "500.00 USD" in finding.message and "1d" in finding.message
    assert "max_runtime to about 22h" in finding.fix


def test_spot_priced_job_under_cap_passes() -> None:
    """The same 24 hours at the p4d spot price (no fallback) stays under 500 USD."""
    job = manifest(instance_type="p4d.24xlarge", spot=True, on_demand_fallback=False, max_runtime_s=86400, max_cost_usd=None)
    assert findings("max-job-cost", job) == []


def test_max_cost_usd_above_cap_is_a_violation() -> None:
    """limits.max_cost_usd may not exceed the team's cap, however short the runtime."""
    [finding] = findings("max-job-cost", manifest(max_cost_usd=600.0))
    assert "limits.max_cost_usd 600.00" in finding.message and "at most 500.00" in finding.fix


def test_unbounded_cost_is_a_violation_unless_free_or_budgeted() -> None:
    """No max_runtime and no max_cost_usd: unbounded (a violation) unless the job costs nothing per hour."""
    assert findings("max-job-cost", manifest(max_runtime_s=None, max_cost_usd=None))
    assert findings("max-job-cost", manifest(max_runtime_s=None, max_cost_usd=50.0)) == []
    assert findings("max-job-cost", local_manifest(max_runtime_s=None, max_cost_usd=None, hourly_usd=0.0)) == []
    [finding] = findings("max-job-cost", local_manifest(max_runtime_s=None, max_cost_usd=None, hourly_usd=2.0))
    assert "unbounded" in finding.message


@pytest.mark.parametrize(("target", "runtime", "expected"), [("aws", None, 1), ("aws", 3600, 0), ("local", None, 0)])
def test_max_runtime_required_on_cloud_targets(target: str, runtime: int | None, expected: int) -> None:
    """AWS jobs without limits.max_runtime are refused; local ones may run unbounded."""
    job = manifest(max_runtime_s=runtime) if target == "aws" else local_manifest(max_runtime_s=runtime)
    found = findings("require-max-runtime", job)
    assert len(found) == expected
    assert all("limits.max_runtime" in f.fix for f in found)


def test_require_max_runtime_targets_are_configurable() -> None:
    """A config listing local in targets requires a max_runtime for local jobs too."""
    from orchestrator.policy.config import load_config, merge
    from orchestrator.policy.pack import load_policies

    config = merge(load_config(), {"require-max-runtime": {"targets": ["aws", "local"]}}, load_policies(), origin="test")
    assert findings("require-max-runtime", local_manifest(max_runtime_s=None), config)


def test_on_demand_gpu_is_advised_to_use_spot_with_the_saving() -> None:
    """An on-demand g5.xlarge gets the spot advice with the catalog's saving; spot or CPU jobs do not."""
    [finding] = findings("spot-preferred", manifest(spot=False))
    assert "51% cheaper" in finding.message and "spot: true" in finding.fix
    assert findings("spot-preferred", manifest(spot=True)) == []
    assert findings("spot-preferred", manifest(spot=False, instance_type="c5.large")) == []
    assert findings("spot-preferred", local_manifest()) == []
