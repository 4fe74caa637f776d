"""The published team policy through the real engine: every member's `up` is gated by the pack with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.testing.harness import Trainctl, write_job

from .conftest import TeamBackend

pytestmark = pytest.mark.engine


def test_published_cap_refuses_up_for_both_users(team: TeamBackend, alice: Trainctl, bob: Trainctl, tmp_path: Path) -> None:
    """Alice publishes a 1 USD/hour cap; a local job priced at 5 USD/hour is refused by the engine's policy pack for
    Alice and for Bob (exit 3, recorded blocked, nothing left running), and Bob cannot lift the cap locally (exit 2)."""
    policy = tmp_path / "team-policy.yaml"
    policy.write_text("max-hourly-cost:\n  maxUsd: 1\n")
    published = alice.run("policy", "publish", str(policy))
    assert published.returncode == 0, published.stderr
    assert team.keys(".trainctl/policy/") == ["trainctl/.trainctl/policy/team.json"]
    spec = write_job(tmp_path, "capped", steps=3)
    for user in (alice, bob):
        user.env["TRAINCTL_LOCAL_HOURLY_USD"] = "5"
        result = user.run("up", str(spec), "--new")
        assert result.returncode == 3, result.stderr
        assert "max-hourly-cost" in result.stderr
    rows = bob.json("ls")["jobs"]
    assert sorted(r["state"] for r in rows) == ["blocked", "blocked"]
    loose = tmp_path / "bob.json"
    loose.write_text(json.dumps({"max-hourly-cost": {"maxUsd": 10}}))
    refused = bob.run("plan", str(spec), "--policy-config", str(loose))
    assert refused.returncode == 2 and "max-hourly-cost.maxUsd: 10 is above the team policy's 1" in refused.stderr
