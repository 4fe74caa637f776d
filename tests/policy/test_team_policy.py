"""The team policy: published once in the backend, obeyed by every member; a local config may only tighten it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from orchestrator.policy.config import resolve
from orchestrator.policy.pack import load_policies
from orchestrator.policy.tighten import loosenings
from orchestrator.settings import get_settings
from orchestrator.testing.moto_server import MotoServer
from tests.conftest import CliResult, write_job

AWS_JOB = "target: aws\nresources:\n  instance_type: {itype}\n  spot: false\n  region: us-east-1\nlimits:\n  max_runtime: 2h\n"
ONLY_T3 = {"allowed-instance-types": {"allowed": ["t3.*", "c5.*"]}, "max-hourly-cost": {"maxUsd": 40}}

Cli = Callable[..., CliResult]


def _file(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _aws_spec(tmp_path: Path, itype: str) -> Path:
    return write_job(tmp_path / itype, extra=AWS_JOB.format(itype=itype))


def _as(monkeypatch: pytest.MonkeyPatch, home: Path, **env: str) -> None:
    """Act as the user of ``home`` (settings read again)."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("TRAINCTL_HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_publish_then_show(cli: Cli, tmp_path: Path, trainctl_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """publish stores the config in the backend with who and when; show prints it (text and JSON)."""
    monkeypatch.setenv("TRAINCTL_OWNER", "lead@example.com")
    get_settings.cache_clear()
    assert json.loads(cli("policy", "show", "-o", "json").stdout) == {"version": 1, "published": False}
    published = cli("policy", "publish", str(_file(tmp_path, "team.json", ONLY_T3)), "-o", "json")
    assert published.exit_code == 0, published.stderr
    shown = json.loads(cli("policy", "show", "-o", "json").stdout)
    assert shown["config"] == ONLY_T3 and shown["source"] == "team.json"
    assert shown["published_by"].startswith("lead@example.com (") and shown["published_at"].endswith("Z")
    stored = trainctl_home / "state" / ".trainctl" / "policy" / "team.json"
    assert json.loads(stored.read_text())["config"] == ONLY_T3
    text = cli("policy", "show")
    assert "published by lead@example.com" in text.stdout and '"t3.*"' in text.stdout


def test_invalid_config_exits_2_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    """An unknown policy, a bad value or unreadable JSON: exit 2 naming the problem; the published policy stays."""
    assert cli("policy", "publish", str(_file(tmp_path, "good.json", ONLY_T3))).exit_code == 0
    for name, bad in [
        ("unknown.json", {"max-hourly-costs": {"maxUsd": 1}}),
        ("value.json", {"max-hourly-cost": {"maxUsd": "cheap"}}),
    ]:
        result = cli("policy", "publish", str(_file(tmp_path, name, bad)), "--yes")
        assert result.exit_code == 2 and ("max-hourly-cost" in result.stderr), result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert cli("policy", "publish", str(broken), "--yes").exit_code == 2
    assert json.loads(cli("policy", "show", "-o", "json").stdout)["config"] == ONLY_T3


def test_replacing_a_published_policy_needs_yes(cli: Cli, tmp_path: Path) -> None:
    """Without a terminal, replacing the team policy is refused (exit 2) unless --yes is given."""
    assert cli("policy", "publish", str(_file(tmp_path, "one.json", ONLY_T3))).exit_code == 0
    other = _file(tmp_path, "two.json", {"max-hourly-cost": {"maxUsd": 5}})
    refused = cli("policy", "publish", str(other))
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert json.loads(cli("policy", "show", "-o", "json").stdout)["source"] == "one.json"
    assert cli("policy", "publish", str(other), "--yes").exit_code == 0
    assert json.loads(cli("policy", "show", "-o", "json").stdout)["source"] == "two.json"


def test_a_member_cannot_raise_the_hourly_cap(cli: Cli, tmp_path: Path) -> None:
    """With 40 USD/hour published, a local config raising max-hourly-cost.maxUsd is refused: exit 2 naming the rule."""
    assert cli("policy", "publish", str(_file(tmp_path, "team.json", ONLY_T3))).exit_code == 0
    local = _file(tmp_path, "mine.json", {"max-hourly-cost": {"maxUsd": 1000}})
    result = cli("check", str(_aws_spec(tmp_path, "t3.large")), "--policy-config", str(local))
    assert result.exit_code == 2, result.stderr
    assert "max-hourly-cost.maxUsd: 1000 is above the team policy's 40" in result.stderr
    for loosening in (
        {"allowed-instance-types": {"allowed": ["g5.*"]}},
        {"teams": {"test-team": {"max-hourly-cost": {"maxUsd": 80}}}},
        {"all": "advisory"},
    ):
        refused = cli("check", str(_aws_spec(tmp_path, "t3.large")), "--policy-config", str(_file(tmp_path, "l.json", loosening)))
        assert refused.exit_code == 2 and "loosens the team policy published by" in refused.stderr, (loosening, refused.stderr)


def test_a_member_may_tighten(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local config lowering the cap is applied: a t3 job priced above it is blocked (exit 3) that passes without it."""
    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "0")
    assert cli("policy", "publish", str(_file(tmp_path, "team.json", ONLY_T3))).exit_code == 0
    spec = _aws_spec(tmp_path, "c5.4xlarge")
    assert cli("check", str(spec)).exit_code == 0
    tighter = _file(tmp_path, "mine.json", {"max-hourly-cost": {"maxUsd": 0.01}, "allowed-instance-types": {"allowed": ["c5.*"]}})
    blocked = cli("check", str(spec), "--policy-config", str(tighter))
    assert blocked.exit_code == 3 and "max-hourly-cost" in blocked.stderr


def test_forbidden_instance_type_is_refused_for_both_users(
    cli: Cli, moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On one S3 team backend, Alice publishes; Bob (another home) sees it, and a g5 job is refused for both (exit 3)."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="team-state")
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", "s3://team-state/trainctl?region=us-east-1")
    spec = _aws_spec(tmp_path, "g5.xlarge")
    _as(monkeypatch, tmp_path / "alice", TRAINCTL_OWNER="alice@example.com")
    assert cli("check", str(spec)).exit_code == 0  # nothing published yet: the pack's defaults allow g5
    assert cli("policy", "publish", str(_file(tmp_path, "team.json", ONLY_T3))).exit_code == 0
    for user in ("alice", "bob"):
        _as(monkeypatch, tmp_path / user)
        assert json.loads(cli("policy", "show", "-o", "json").stdout)["published_by"].startswith("alice@example.com")
        for command in (("check", str(spec)), ("plan", str(spec), "--offline")):
            result = cli(*command)
            assert result.exit_code == 3, (user, command, result.stderr)
            assert "instance type g5.xlarge is not allowed" in result.stderr
    widen = _file(tmp_path, "bob.json", {"allowed-instance-types": {"allowed": ["t3.*", "c5.*", "g5.*"]}})
    refused = cli("check", str(spec), "--policy-config", str(widen))
    assert refused.exit_code == 2 and "allowed-instance-types.allowed: allows g5.*" in refused.stderr


def _loose(published: dict[str, object], local: dict[str, object]) -> list[str]:
    from orchestrator.policy.config import load_defaults, merge

    policies = load_policies()
    before = merge(load_defaults(policies), published, policies, origin="published")
    after = merge(before, local, policies, origin="local")
    return loosenings(before, after, policies, resolve)


@pytest.mark.parametrize(
    ("local", "loose"),
    [
        ({"max-nodes": {"maxNodes": 4}}, False),
        ({"max-nodes": {"maxNodes": 64}}, True),
        ({"allowed-regions": {"allowed": ["us-east-1"]}}, False),
        ({"allowed-regions": {"allowed": ["us-east-1", "ap-south-1"]}}, True),
        ({"allowed-instance-types": {"allowed": ["g5.xlarge"]}}, False),
        ({"allowed-instance-types": {"allowed": ["g*"]}}, True),
        ({"required-tags": {"tags": ["trainctl:job-id", "trainctl:team", "trainctl:owner", "cost-center"]}}, True),
        ({"require-max-runtime": {"targets": ["aws", "local"]}}, False),
        ({"require-max-runtime": {"targets": []}}, True),
        ({"spot-preferred": "mandatory"}, False),
        ({"private-artifacts": "advisory"}, True),
        ({"teams": {"vision": {"members": ["eve@example.com"]}}}, True),
        ({"teams": {"nlp": {"max-job-cost": {"maxUsd": 100}}}}, False),
        ({"teams": {"nlp": {"max-job-cost": {"maxUsd": 900}}}}, True),
    ],
)
def test_what_counts_as_tighter(local: dict[str, object], loose: bool) -> None:
    """Caps lower, allowed lists narrower (globs inside globs), required lists larger, levels stricter, members fixed."""
    published = {"max-nodes": {"maxNodes": 8}, "teams": {"vision": {"members": ["ana@example.com"]}}}
    assert bool(_loose(published, local)) is loose
