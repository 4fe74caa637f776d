"""The JSON contract: every command's `--output json` is one object with a top-level `version`, in the shape its
schema in docs/json/ documents; real runs of every command are checked against those schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from orchestrator.cli.output import JSON_VERSION
from orchestrator.engine.locate import PULUMI_VERSION
from orchestrator.settings import get_settings
from orchestrator.testing import json_contract
from orchestrator.testing.harness import Trainctl, only_job, wait_until
from tests.conftest import EXAMPLES, REPO
from tests.test_engine_install import fake_pulumi

# Commands whose real runs are checked by tests elsewhere, against fakes or moto that live there
# (each named test runs the command with `-o json` through the `cli` fixture, which checks the schema).
CHECKED_ELSEWHERE = {
    "prices-refresh": "tests.cost.test_prices:test_refresh_writes_user_catalog_from_aws_answers",
    "cost-activate-tags": "tests.cost.test_actuals:test_activate_tags_calls_the_api",
    "sweep": "tests.sweep.test_sweep_engine:test_six_point_sweep_three_at_once_ranked_by_objective",
    "policy-publish": "tests.policy.test_team_policy:test_publish_then_show",
    "policy-show": "tests.policy.test_team_policy:test_publish_then_show",
    "index-rebuild": "tests.store.test_index_rebuild:test_deleted_index_is_rebuilt_from_the_stacks",
}
# Commands this module runs for real (below): together with CHECKED_ELSEWHERE, every command with JSON output.
RUN_HERE = {
    "validate", "schema", "plan", "check", "ls", "status", "cost-report", "gc", "doctor", "engine-show",
    "engine-install", "prices-show", "init", "up", "logs", "cancel", "down", "recover", "wait", "metrics-show", "top",
}  # fmt: skip


def run_json(cli: Any, *args: str, code: int = 0) -> dict[str, Any]:
    """Run ``trainctl *args -o json`` in-process; check the exit code, the schema and the version."""
    result = cli(*args, "--output", "json")
    assert result.exit_code == code, result.stdout + result.stderr
    document: dict[str, Any] = json_contract.check_document(args, result.stdout, result.exit_code)
    assert document["version"] == JSON_VERSION
    return document


def tc_json(tc: Trainctl, *args: str) -> dict[str, Any]:
    """Run the real console script with ``-o json``; check exit 0, the schema and the version."""
    result = tc.run(*args, "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    document: dict[str, Any] = json_contract.check_document(args, result.stdout, 0)
    assert document["version"] == JSON_VERSION
    return document


def test_every_command_with_json_output_has_a_schema() -> None:
    """Each registered command offering `--output json` has docs/json/<command path>.json; no schema is orphaned."""
    commands = json_contract.json_commands()
    assert {"ls", "status", "plan", "cost-report", "engine-show", "prices-refresh"} <= set(commands)
    missing = [name for name in commands if not (json_contract.SCHEMAS / f"{name}.json").exists()]
    assert missing == [], f"add docs/json/<name>.json for: {missing}"
    files = {p.stem for p in json_contract.SCHEMAS.glob("*.json")}
    assert files - set(commands) - set(json_contract.SHARED) == set()


def test_docs_ci_lists_every_schema() -> None:
    """docs/ci.md links every schema of docs/json/ (the list CI authors read)."""
    doc = (REPO / "docs" / "ci.md").read_text()
    assert [p.name for p in sorted(json_contract.SCHEMAS.glob("*.json")) if f"(json/{p.name})" not in doc] == []


def test_every_command_schema_is_checked_against_a_real_run() -> None:
    """Every command with JSON output is run for real in this module or in a named test that exists."""
    assert set(json_contract.json_commands()) == RUN_HERE | set(CHECKED_ELSEWHERE)
    for where in CHECKED_ELSEWHERE.values():
        module, _, name = where.partition(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name, None)), where


@pytest.mark.parametrize("path", sorted(json_contract.SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_schemas_are_valid_and_pin_the_version(path: Path) -> None:
    """Each file is a valid draft 2020-12 schema; every document requires `version`, equal to the CLI's JSON_VERSION."""
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    if path.stem == "common":
        assert schema["$defs"]["version"]["const"] == JSON_VERSION
        return
    branches = schema.get("oneOf", [schema])
    for branch in branches:
        assert "version" in branch["required"] and branch["properties"]["version"] == {"$ref": "common.json#/$defs/version"}


def test_a_document_off_its_schema_is_refused() -> None:
    """The check can fail: a missing version, another version, an undocumented field or a list are all refused."""
    good = {"version": JSON_VERSION, "jobs": []}
    json_contract.validate(good, "ls")
    for bad in ({"jobs": []}, {"version": JSON_VERSION + 1, "jobs": []}, {**good, "extra": 1}, []):
        with pytest.raises(Exception, match=r"(?s)is a required property|was expected|Additional properties|is not of type"):
            json_contract.validate(bad, "ls")


def test_command_paths_resolve_groups_and_global_options() -> None:
    """A schema name is the command path: groups take their subcommand, `cost` alone is `cost report`."""
    assert json_contract.command_path(["--debug", "--log-format", "json", "ls", "--state", "running"]) == "ls"
    assert json_contract.command_path(["engine", "show"]) == "engine-show"
    assert json_contract.command_path(["cost", "--by", "team"]) == "cost-report"
    assert json_contract.command_path(["cost", "activate-tags"]) == "cost-activate-tags"


def test_offline_commands_print_their_documented_json(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """validate, schema, plan --offline, check, ls, status, top, cost, gc, doctor, engine, prices, init, metrics: each
    prints one
    object with `version` that fits its schema."""
    quickstart, aws = str(EXAMPLES / "quickstart" / "job.yaml"), str(EXAMPLES / "aws" / "job.yaml")
    assert run_json(cli, "validate", quickstart)["name"] == "quickstart-logreg"
    assert run_json(cli, "schema")["type"] == "object"
    assert run_json(cli, "plan", aws, "--offline")["estimate_if_fallback"] is not None
    assert run_json(cli, "plan", quickstart, "--offline")["resources"]
    assert run_json(cli, "check", aws)["blocked"] is False
    assert run_json(cli, "ls") == {"version": JSON_VERSION, "jobs": []}
    assert run_json(cli, "status") == {"version": JSON_VERSION, "jobs": []}
    assert run_json(cli, "cost", "--by", "team")["groups"] == []
    assert run_json(cli, "gc", "--dry-run", "--local-only")["applied"] is False
    assert {c["name"] for c in run_json(cli, "doctor", code=cli("doctor").exit_code)["checks"]} >= {"engine", "python"}
    assert run_json(cli, "engine", "show")["engine_version"] == PULUMI_VERSION
    assert run_json(cli, "prices", "show", "--region", "us-east-1")["entries"]
    assert len(run_json(cli, "init", str(tmp_path / "new"))["written"]) == 3
    assert run_json(cli, "top") == {"version": JSON_VERSION, "jobs": []}
    assert "trainctl_build_info" in {family["name"] for family in run_json(cli, "metrics", "show")["metrics"]}

    bindir = tmp_path / "path-bin"
    fake_pulumi(bindir, PULUMI_VERSION)
    monkeypatch.setenv("PATH", f"{bindir}:/bin:/usr/bin")
    monkeypatch.setenv("TRAINCTL_ENGINE_DIR", str(tmp_path / "engines"))
    get_settings.cache_clear()
    assert run_json(cli, "engine", "install", "--no-download")["source"] == "PATH"


def test_errors_print_the_error_document(cli, tmp_path: Path) -> None:
    """A failing command prints one error object (with version, exit code and hint) that fits error.json."""
    doc = run_json(cli, "validate", str(tmp_path / "missing.yaml"), code=2)
    assert doc["error"] == "SpecError" and doc["exit_code"] == 2 and doc["hint"]
    assert run_json(cli, "status", "no-such-job", code=2)["error"] == "NotFoundError"


def test_blocked_plan_prints_the_plan_not_the_error(cli, tmp_path: Path) -> None:
    """A plan blocked by policy exits 3 with the plan's own document (its verdict says why), not an error object."""
    caps = tmp_path / "caps.yaml"
    caps.write_text("max-hourly-cost: {maxUsd: 0.01}\n")
    doc = run_json(cli, "plan", str(EXAMPLES / "aws" / "job.yaml"), "--offline", "--policy-config", str(caps), code=3)
    assert doc["policy"]["blocked"] is True and "error" not in doc


def test_job_commands_print_their_documented_json(tc: Trainctl, make_job) -> None:
    """up (detached and attached), status, ls, logs, plan (engine preview), cost, cancel, wait, down and recover: every
    document a real job produces fits its schema."""
    spec = str(make_job(steps=300, step_s=0.1))
    assert tc_json(tc, "plan", spec)["offline"] is False
    started = tc_json(tc, "up", spec, "--detach")
    job_id = started["job_id"]
    assert started["outcome"] == "started" and only_job(tc)["job_id"] == job_id
    assert tc_json(tc, "up", spec)["outcome"] == "already-running"
    status = tc_json(tc, "status", job_id)
    assert status["state"] == "running" and status["next"]
    assert [row["job_id"] for row in tc_json(tc, "ls")["jobs"]] == [job_id]
    assert tc_json(tc, "status")["jobs"][0]["job_id"] == job_id
    wait_until(lambda: "step 1" in tc_json(tc, "logs", job_id)["output"])
    assert tc_json(tc, "cost", job_id)["groups"][0]["group"] == job_id
    assert tc_json(tc, "cancel", job_id)["state"] == "cancelled"

    short = str(make_job(name="json-short", steps=2, step_s=0.05))
    finished = tc_json(tc, "up", short)
    assert finished["outcome"] == "finished" and finished["state"] == "succeeded"
    assert tc_json(tc, "logs", finished["job_id"], "-f")["output"]
    assert tc_json(tc, "wait", finished["job_id"])["timed_out"] is False
    assert tc_json(tc, "recover", finished["job_id"])["job_id"] == finished["job_id"]
    assert tc_json(tc, "down", job_id)["purged"] == []
    assert (REPO / "docs" / "json" / "up.json").exists()
