"""`trainctl validate`: examples pass; every kind of bad input exits 2 naming the field or line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

EXAMPLE_SPECS = sorted(EXAMPLES.glob("**/*.yaml"))

VALID = """\
name: resnet-baseline
team: vision
owner: alice@example.com
code:
  run: python train.py
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_validates(cli, spec: Path) -> None:
    """Each shipped example is a valid spec (exit 0)."""
    result = cli("validate", str(spec))
    assert result.exit_code == 0, result.stderr
    assert "ok:" in result.stdout


def test_examples_exist() -> None:
    """The quick-start and the AWS example are shipped."""
    names = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLE_SPECS}
    assert {"quickstart/job.yaml", "aws/job.yaml"} <= names


def test_json_output_is_the_normalized_spec(cli, tmp_path: Path) -> None:
    """--output json prints every field with defaults applied, durations in canonical form."""
    result = cli("validate", write(tmp_path, VALID + "limits:\n  max_runtime: 120m\n"), "--output", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["apiVersion"] == "trainctl/v1"
    assert doc["target"] == "local"
    assert doc["resources"] == {
        "instance_type": None,
        "nodes": 1,
        "spot": False,
        "on_demand_fallback": True,
        "disk_gb": 50,
        "region": None,
        "ami": None,
    }
    assert doc["code"]["workdir"] == "."
    assert doc["checkpoints"] == {"path": "checkpoints", "sync_interval": "1m", "keep_last": 3}
    assert doc["limits"]["max_runtime"] == "2h"
    assert doc["restarts"] == {"max_preemptions": 3, "max_failures": 0}


BAD_CASES = {
    "unknown key": (VALID + "colour: blue\n", "colour: unknown field", 6),
    "unknown nested key": (VALID + "resources:\n  gpus: 8\n", "resources.gpus: unknown field", 7),
    "misspelt nested key": (
        VALID + "resources:\n  instace_type: g5.xlarge\n",
        "resources.instace_type: unknown field; did you mean instance_type?",
        7,
    ),
    "misspelt top-level key": (VALID + "limit:\n  max_runtime: 1h\n", "limit: unknown field; did you mean limits?", 6),
    "misspelt alias": (VALID + "apiversion: trainctl/v1\n", "apiversion: unknown field; did you mean apiVersion?", 6),
    "wrong type": (VALID + "resources:\n  disk_gb: lots\n", "resources.disk_gb", 7),
    "bool as string": (VALID + "resources:\n  spot: 'yes'\n", "resources.spot", 7),
    "bad duration": (VALID + "limits:\n  max_runtime: 2 hours\n", "limits.max_runtime: invalid duration", 7),
    "zero duration": (VALID + "limits:\n  max_runtime: 0s\n", "limits.max_runtime", 7),
    "negative limit": (VALID + "limits:\n  max_cost_usd: -5\n", "limits.max_cost_usd", 7),
    "negative restarts": (VALID + "restarts:\n  max_failures: -1\n", "restarts.max_failures", 7),
    "unknown target": (VALID + "target: gcp\n", "target: Input should be 'local' or 'aws'", 6),
    "missing required": ("name: resnet-baseline\nteam: vision\ncode:\n  run: x\n", "owner: required field is missing", 1),
    "missing nested required": (VALID.replace("  run: python train.py\n", "  setup: pip install x\n"), "code.run: required", 4),
    "aws without instance type": (VALID + "target: aws\n", "instance_type is required when target is aws", 1),
    "bad name": (VALID.replace("resnet-baseline", "ResNet_Baseline"), "name: must be 3 to 40", 1),
    "disk too small": (VALID + "resources:\n  disk_gb: 4\n", "resources.disk_gb", 7),
    "reserved env": (VALID + "env:\n  TRAINCTL_JOB_ID: x\n", "reserved for trainctl", 6),
    "env value not string": (VALID + "env:\n  LR: 0.1\n", "env.LR", 7),
    "duplicate key": (VALID + "team: other\n", "team: key appears twice", 6),
    "absolute checkpoint path": (VALID + "checkpoints:\n  path: /tmp/x\n", "checkpoints.path", 7),
    "zero nodes": (VALID + "resources:\n  nodes: 0\n", "resources.nodes", 7),
    "too many nodes": (VALID + "resources:\n  nodes: 65\n", "resources.nodes", 7),
    "nodes as string": (VALID + "resources:\n  nodes: '4'\n", "resources.nodes", 7),
    "fractional nodes": (VALID + "resources:\n  nodes: 2.5\n", "resources.nodes", 7),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_spec_exits_2_naming_field_and_line(cli, tmp_path: Path, case: str) -> None:
    """Each invalid spec exits 2; stderr names the field path and the line it is on."""
    text, expected, line = BAD_CASES[case]
    path = write(tmp_path, text)
    result = cli("validate", path)
    assert result.exit_code == 2, result.stderr
    assert expected in result.stderr
    assert f"{path}:{line}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_all_problems_reported_at_once(cli, tmp_path: Path) -> None:
    """A spec with several problems gets one line per problem in one run."""
    text = "name: x\nteam: vision\ntarget: gcp\ncode:\n  workdir: .\nlimits:\n  max_runtime: soon\n"
    result = cli("validate", write(tmp_path, text))
    assert result.exit_code == 2
    assert "5 problems" in result.stderr
    for field in ("name:", "owner:", "target:", "code.run:", "limits.max_runtime:"):
        assert field in result.stderr, field


def test_missing_file_exits_2(cli, tmp_path: Path) -> None:
    """A spec path that does not exist exits 2 and says so."""
    result = cli("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "spec file not found" in result.stderr


def test_yaml_syntax_error_names_the_line(cli, tmp_path: Path) -> None:
    """Broken YAML exits 2 with the line of the problem."""
    path = write(tmp_path, VALID + "env: {LR: [\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "YAML syntax error" in result.stderr
    assert f"{path}:7:" in result.stderr


def test_list_instead_of_mapping(cli, tmp_path: Path) -> None:
    """A top-level list is rejected with a message that says a mapping is expected."""
    result = cli("validate", write(tmp_path, "- name: a\n- name: b\n"))
    assert result.exit_code == 2
    assert "must be a mapping" in result.stderr and "got a list" in result.stderr


def test_empty_file(cli, tmp_path: Path) -> None:
    """An empty spec file exits 2 and says it is empty."""
    result = cli("validate", write(tmp_path, "# nothing\n"))
    assert result.exit_code == 2
    assert "empty" in result.stderr


def test_local_target_notices_ignored_cloud_fields(cli, tmp_path: Path) -> None:
    """Cloud fields on a local spec are accepted with a notice naming them."""
    result = cli("validate", write(tmp_path, VALID + "resources:\n  instance_type: g5.xlarge\n  spot: true\n"))
    assert result.exit_code == 0
    assert "resources.instance_type, resources.spot ignored" in result.stderr


def test_schema_is_json_schema_of_the_spec(cli) -> None:
    """`trainctl schema` prints a JSON Schema that forbids unknown keys and lists the contract fields."""
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "team", "owner", "code"}
    for field in ("apiVersion", "cost_center", "target", "resources", "env", "secrets", "checkpoints", "limits", "restarts"):
        assert field in schema["properties"], field


def test_nodes_is_a_field_of_every_target(cli, tmp_path: Path) -> None:
    """resources.nodes: 4 validates on the local target with no ignored-field notice and is kept in the normalized spec."""
    result = cli("validate", write(tmp_path, VALID + "resources:\n  nodes: 4\n"), "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["resources"]["nodes"] == 4
    assert "ignored" not in result.stderr
