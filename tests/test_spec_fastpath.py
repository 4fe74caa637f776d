"""The pydantic-free fast path of `trainctl validate` agrees with the pydantic models.

The fast path may only be stricter: when it vouches for a document, the models accept it and dump
exactly the same normalized document; when it is unsure, the models decide.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.cli.output import JSON_VERSION
from orchestrator.spec import fastpath
from orchestrator.spec.loader import check_spec
from orchestrator.spec.models import JobSpec
from tests.spec_strategies import EDGE_VALUES, leaf_paths, near_miss, valid_specs

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*/job.yaml"))
REGENERATE = "make spec-schema"


def _models(document: Any) -> dict[str, Any] | None:
    try:
        return JobSpec.model_validate(document).to_document()
    except ValidationError:
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal as `validate --output json` prints them: values, types (1 vs 1.0) and key order."""
    return json.dumps(a) == json.dumps(b)


def test_schema_file_is_generated_from_the_models_as_they_are() -> None:
    """schema.json is current; a change to models.py, rules.py or durations.py must regenerate it."""
    assert fastpath.compiled_schema() == fastpath.generate(), f"orchestrator/spec/schema.json is stale: run {REGENERATE}"


def test_schema_command_prints_the_same_schema_the_fast_path_reads() -> None:
    """`trainctl schema` prints exactly the stored schema the fast path reads (minus its fingerprint), with the
    `version` every JSON document of trainctl carries."""
    result = subprocess.run([sys.executable, "-m", "orchestrator", "schema"], capture_output=True, text=True, check=True)
    printed = json.loads(result.stdout)
    assert printed.pop("version") == JSON_VERSION
    stored = fastpath.compiled_schema()
    assert stored is not None
    stored.pop(fastpath.SOURCE_KEY)
    assert printed == stored
    assert printed["$defs"]["Checkpoints"]["properties"]["sync_interval"]["default"] == "1m"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_fast_path_vouches_for_every_example(example: Path) -> None:
    """The fast path accepts every shipped example and normalizes it exactly as the models do."""
    document = yaml.safe_load(example.read_text())
    fast = fastpath.normalize(document)
    assert fast is not None, f"the fast path does not accept {example}"
    assert _same(fast, _models(document))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_fast_path_vouches_for_valid_specs_exactly_as_the_models(doc: dict[str, Any]) -> None:
    """Every valid spec (every field, ASCII patterns) is accepted with the models' normalization."""
    document = yaml.safe_load(yaml.safe_dump(doc))
    expected = _models(document)
    assert expected is not None
    fast = fastpath.normalize(document)
    assert fast is not None, document
    assert _same(fast, expected)


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(), st.data())
def test_fast_path_never_accepts_what_the_models_reject(doc: dict[str, Any], data: st.DataObject) -> None:
    """On near-miss specs (one field changed) the fast path declines or answers exactly as the models."""
    bad = near_miss(doc, data)
    fast = fastpath.normalize(bad)
    if fast is not None:
        expected = _models(bad)
        assert expected is not None, f"fast path accepted what the models reject: {bad!r}"
        assert _same(fast, expected)


def _every_field_set() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLES[0].read_text())
    document["code"]["setup"] = "pip install -r requirements.txt"
    document["resources"]["ami"] = "ami-0123456789abcdef0"
    return document


def test_fast_path_is_sound_for_every_field_and_edge_value() -> None:
    """Every field of a full spec, set to every edge value (or removed): never accepted unless the models agree."""
    base = _every_field_set()
    assert fastpath.normalize(base) is not None
    accepted = declined = 0
    for path in leaf_paths(base):
        variants: list[Any] = [*EDGE_VALUES, _REMOVE]
        for value in variants:
            document = json.loads(json.dumps(base))
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if value is _REMOVE:
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            fast = fastpath.normalize(document)
            if fast is None:
                declined += 1
                continue
            accepted += 1
            assert _same(fast, _models(document)), f"{'.'.join(map(str, path))} = {value!r}: the fast path disagrees"
    assert accepted > 100 and declined > 1000, (accepted, declined)  # both outcomes are exercised


_REMOVE = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "Bad_Name"),
        (("name",), "abc\n"),
        (("resources", "disk_gb"), "100"),
        (("resources", "disk_gb"), 100.0),
        (("resources", "spot"), "true"),
        (("resources", "spot"), 1),
        (("limits", "max_cost_usd"), "5"),
        (("limits", "max_cost_usd"), float("inf")),
        (("limits", "max_runtime"), "0s"),
        (("checkpoints", "sync_interval"), " 90s "),
        (("checkpoints", "path"), "../up"),
        (("secrets",), ["A", "A"]),
        (("env",), {"TRAINCTL_X": "1"}),
        (("env",), {"WANDB_API_KEY": "x"}),
        (("resources", "region"), "us-east-١"),
        (("apiVersion",), "trainctl/v2"),
        (("target",), "gcp"),
    ],
)
def test_fast_path_declines_lax_or_invalid_values(path: tuple[str, ...], value: Any) -> None:
    """Values pydantic might coerce, and invalid ones, go to the models (which word the error)."""
    document = yaml.safe_load(EXAMPLES[0].read_text())
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert fastpath.normalize(document) is None


def test_a_stale_schema_file_sends_every_spec_to_the_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing models.py without regenerating schema.json cannot make validate answer from old rules."""
    stale = tmp_path / "schema.json"
    shutil.copy(fastpath.SCHEMA_FILE, stale)
    schema = json.loads(stale.read_text())
    schema[fastpath.SOURCE_KEY] = "crc32:00000000"
    stale.write_text(json.dumps(schema))
    monkeypatch.setattr(fastpath, "SCHEMA_FILE", stale)
    example = EXAMPLES[0]
    assert fastpath.normalize(yaml.safe_load(example.read_text())) is None
    checked = check_spec(example)  # still answered, by the models
    assert _same(checked.document, _models(yaml.safe_load(example.read_text())))
