"""A team's policy rules apply only to its members (owner, and on AWS the caller's identity); others get the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.policy.config import load_config, rules_for_job
from orchestrator.policy.membership import principals, team_rules
from orchestrator.testing.harness import Trainctl
from tests.conftest import write_job

# The defaults allow only t3; team test-team may use g5, if its members run it.
CONFIG = """
allowed-instance-types: {{allowed: ["t3.*"]}}
teams:
  test-team:
    members: {members}
    allowed-instance-types: {{allowed: ["t3.*", "g5.*"]}}
"""
G5_SPEC = "target: aws\nresources:\n  instance_type: g5.xlarge\n  spot: true\n  region: us-east-1\nlimits:\n  max_runtime: 2h\n"


def _config(tmp_path: Path, members: list[str]) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(CONFIG.format(members=json.dumps(members)))
    return path


@pytest.mark.parametrize(
    ("members", "code"),
    [(["tester@example.com"], 0), (["*@EXAMPLE.com"], 0), (["someone@example.com"], 3), (["arn:aws:iam::1:role/x"], 3)],
)
def test_check_applies_a_teams_rules_to_its_members_only(cli, tmp_path: Path, members: list[str], code: int) -> None:  # type: ignore[no-untyped-def]
    """check: the spec's owner among the members gets the team's g5 allowance (exit 0); a non-member exits 3."""
    result = cli("check", str(write_job(tmp_path, extra=G5_SPEC)), "--policy-config", str(_config(tmp_path, members)))
    assert result.exit_code == code, result.stderr
    if code == 3:
        assert "allowed-instance-types" in result.stderr
        assert "notice: team test-team's policy rules do not apply: owner tester@example.com is not one of its members" in (
            result.stderr
        )


def test_a_team_without_members_applies_to_whoever_names_it(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No members listed: the team's rules apply as before (exit 0), and no notice."""
    config = tmp_path / "open.yaml"
    config.write_text(
        'allowed-instance-types: {allowed: ["t3.*"]}\nteams:\n  test-team:\n    allowed-instance-types: {allowed: ["g5.*"]}\n'
    )
    result = cli("check", str(write_job(tmp_path, extra=G5_SPEC)), "--policy-config", str(config))
    assert result.exit_code == 0, result.stderr
    assert "notice: team" not in result.stderr


def test_bad_members_list_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """members must be a list of strings: anything else is invalid input naming the key."""
    config = tmp_path / "bad.yaml"
    config.write_text("teams:\n  test-team:\n    members: alice@example.com\n")
    result = cli("check", str(write_job(tmp_path)), "--policy-config", str(config))
    assert result.exit_code == 2
    assert "teams.test-team.members: must be a list" in result.stderr


def test_on_aws_the_callers_identity_must_be_a_member_too(moto, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """plan/up of an AWS job: a member owner run by an AWS identity outside the team gets the defaults."""
    from orchestrator.cloud import aws
    from orchestrator.settings import get_settings

    caller = aws.caller_arn(get_settings().default_region)
    owner_only = load_config(_config(tmp_path, ["tester@example.com"]))
    rules = rules_for_job(owner_only, "test-team", owner="tester@example.com", check_caller=True)
    assert "test-team" not in rules.config["teams"]
    assert rules.notice is not None and f"the AWS identity {caller} is not one of its members" in rules.notice
    both = load_config(_config(tmp_path, ["tester@example.com", caller]))
    assert rules_for_job(both, "test-team", owner="tester@example.com", check_caller=True).notice is None


def test_an_assumed_role_session_is_a_member_through_its_role() -> None:
    """A caller in an assumed-role session belongs to a team that lists the role's IAM ARN (globs allowed)."""
    caller = "arn:aws:sts::123456789012:assumed-role/ml-trainer/ci-run-7"
    assert principals(caller)[1] == "arn:aws:iam::123456789012:role/ml-trainer"
    config = {"teams": {"llm": {"members": ["a@x.io", "arn:aws:iam::123456789012:role/ml-*"], "max-hourly-cost": {"maxUsd": 9}}}}
    assert team_rules(config, "llm", owner="a@x.io", caller=caller, check_caller=True).notice is None
    unknown = team_rules(config, "llm", owner="a@x.io", caller=None, check_caller=True)
    assert unknown.notice is not None and "could not be read" in unknown.notice


@pytest.mark.engine
def test_engine_plan_refuses_a_non_member_using_a_teams_relaxed_cap(tc: Trainctl, tmp_path: Path) -> None:
    """The real engine's plan: a team cap above the local price helps its members only; a non-member exits 3."""
    spec = write_job(tmp_path, extra="limits:\n  max_runtime: 10m\n")
    env = {"TRAINCTL_LOCAL_HOURLY_USD": "5"}
    for members, code in ((["someone@example.com"], 3), (["tester@example.com"], 0)):
        config = tmp_path / "caps.yaml"
        config.write_text(f"max-hourly-cost: {{maxUsd: 1}}\nteams:\n  test-team:\n    members: {json.dumps(members)}\n"
                          "    max-hourly-cost: {maxUsd: 10}\n")  # fmt: skip
        plan = tc.run("plan", str(spec), "--policy-config", str(config), env=env)
        assert plan.returncode == code, plan.stderr
        if code == 3:
            assert "max-hourly-cost" in plan.stdout + plan.stderr
            assert "owner tester@example.com is not one of its members" in plan.stderr


def test_the_pack_on_its_own_applies_a_teams_override_to_member_owners_only(tmp_path: Path) -> None:
    """Unresolved config (plain `pulumi` with the pack): team overrides carry their members; the pack checks the owner tag."""
    from trainctl_policies.adapter import team_config

    from orchestrator.policy.config import engine_config
    from orchestrator.policy.model import Resource
    from orchestrator.policy.pack import load_policies

    carried = engine_config(load_config(_config(tmp_path, ["tester@example.com"])), load_policies())["allowed-instance-types"]
    assert carried["teams"]["test-team"]["members"] == ["tester@example.com"]
    resource = Resource(type="aws:ec2/instance:Instance", name="vm", props={}, urn="urn:x")
    member = team_config(carried, resource, {"trainctl:team": "test-team", "trainctl:owner": "tester@example.com"})
    other = team_config(carried, resource, {"trainctl:team": "test-team", "trainctl:owner": "mallory@example.com"})
    assert member is not None and member["allowed"] == ["t3.*", "g5.*"] and "members" not in member
    assert other is not None and other["allowed"] == ["t3.*"]
