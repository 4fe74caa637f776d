"""`trainctl check SPEC`: offline verdicts for CI, exit 3 on a mandatory violation, JSON with violations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_job

AWS_RESOURCES = "target: aws\nresources:\n  instance_type: {itype}\n  spot: {spot}\n  region: us-east-1\n"


@pytest.fixture(autouse=True)
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """check needs no AWS credentials: none are available to it."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


def _aws_spec(
    tmp_path: Path, itype: str = "g5.xlarge", *, spot: bool = True, limits: str = "limits:\n  max_runtime: 2h\n"
) -> Path:
    return write_job(tmp_path, extra=AWS_RESOURCES.format(itype=itype, spot=str(spot).lower()) + limits)


def test_local_spec_passes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A plain local job passes every policy: exit 0, an ok line naming team and target."""
    result = cli("check", str(write_job(tmp_path)))
    assert result.exit_code == 0, result.stderr
    assert "ok: lifecycle-test passes every mandatory policy (team test-team, target local)" in result.stdout


def test_json_output_lists_violations(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--output json: job, team, target, blocked and the violations (policy, enforcement, resource, message)."""
    result = cli("check", str(_aws_spec(tmp_path, spot=False)), "--output", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["job_name"], report["team"], report["target"], report["blocked"]) == (
        "lifecycle-test",
        "test-team",
        "aws",
        False,
    )
    [advice] = report["violations"]
    assert {k: advice[k] for k in ("policy", "enforcement", "resource")} == {
        "policy": "spot-preferred",
        "enforcement": "advisory",
        "resource": "job-manifest",
    }
    assert "runs on-demand" in advice["message"] and "warning: spot-preferred" in result.stderr


def test_p5_over_the_default_hourly_cap_exits_3(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An AWS p5.48xlarge job (55.04 USD/hour on-demand) is blocked by the 40 USD/hour default: exit 3, policy and fix shown."""
    result = cli("check", str(_aws_spec(tmp_path, "p5.48xlarge")))
    assert result.exit_code == 3
    assert "blocked by policy" in result.stderr
    assert "max-hourly-cost [mandatory] job-manifest: 55.04 USD/hour" in result.stderr and "(fix: " in result.stderr


def test_aws_spec_without_max_runtime_exits_3(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An AWS job without limits.max_runtime is blocked by require-max-runtime; JSON lists the violation."""
    result = cli("check", str(_aws_spec(tmp_path, limits="")), "-o", "json")
    assert result.exit_code == 3
    error = json.loads(result.stdout)
    assert error["exit_code"] == 3
    blocking = {(v["policy"], v["resource"]) for v in error["violations"] if v["enforcement"] == "mandatory"}
    assert ("require-max-runtime", "job-manifest") in blocking


def test_target_override_judges_the_spec_where_it_would_run(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The blocked p5 spec passes with --target local (cloud fields are ignored there, with a notice)."""
    result = cli("check", str(_aws_spec(tmp_path, "p5.48xlarge", limits="")), "--target", "local")
    assert result.exit_code == 0, result.stderr
    assert "target local" in result.stdout and "notice:" in result.stderr


def test_team_policy_config_can_raise_caps_and_relax_levels(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--policy-config: a team cap of 60 USD/hour and an advisory runtime rule let the p5 spec through with warnings."""
    config = tmp_path / "team.yaml"
    config.write_text("teams:\n  test-team:\n    max-hourly-cost: {maxUsd: 60}\n    require-max-runtime: advisory\n")
    result = cli(
        "check", str(_aws_spec(tmp_path, "p5.48xlarge", limits="limits:\n  max_cost_usd: 100\n")), "--policy-config", str(config)
    )
    assert result.exit_code == 0, result.stderr
    assert "warning: require-max-runtime [advisory]" in result.stderr


def test_bad_policy_config_exits_2_naming_the_key(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A misspelt property in --policy-config is invalid input (exit 2) naming policy and key."""
    config = tmp_path / "team.json"
    config.write_text(json.dumps({"max-hourly-cost": {"maxUSD": 60}}))
    result = cli("check", str(write_job(tmp_path)), "--policy-config", str(config))
    assert result.exit_code == 2
    assert "max-hourly-cost.maxUSD: unknown key" in result.stderr


def test_plan_offline_and_check_refuse_with_the_same_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """plan --offline judges through the same verdict as check: exit 3, the same message, details and violations."""
    spec = str(_aws_spec(tmp_path, "p5.48xlarge", limits=""))
    checked = cli("check", spec)
    planned = cli("plan", spec, "--offline")
    assert checked.exit_code == planned.exit_code == 3
    assert "max-hourly-cost [mandatory]" in checked.stderr and "require-max-runtime [mandatory]" in checked.stderr
    assert planned.stderr.splitlines()[-len(checked.stderr.splitlines()) :] == checked.stderr.splitlines()
    assert "plan for lifecycle-test on aws (offline (mock runtime))" in planned.stdout  # the plan is printed first


def test_blocked_offline_plan_prints_one_json_document(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A blocked `plan --offline -o json` exits 3 with exactly one JSON document on stdout: the plan, whose verdict says why."""
    result = cli("plan", str(_aws_spec(tmp_path, limits="")), "--offline", "-o", "json")
    assert result.exit_code == 3
    plan = json.loads(result.stdout)  # one document: json.loads refuses trailing data
    blocking = {v["policy"] for v in plan["policy"]["violations"] if v["enforcement"] == "mandatory"}
    assert "require-max-runtime" in blocking
    assert "blocked by policy" in result.stderr
