"""Hostile YAML in a spec or a policy config: alias bombs, recursion, deep nesting, foreign tags, size."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.spec.yamlguard import MAX_BYTES, MAX_DEPTH, MAX_VALUES
from tests.test_spec_validate import VALID

# 369 bytes that expand to 9**9 (387 million) strings when aliases are followed.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_alias_bomb_exits_2_naming_the_limit(cli, tmp_path: Path) -> None:
    """A 369-byte alias bomb is refused at once with exit 2 naming the expansion limit, not expanded."""
    assert len(BILLION_LAUGHS) < 400
    result = cli("validate", write(tmp_path, VALID + BILLION_LAUGHS))
    assert result.exit_code == 2, result.stderr
    assert f"more than {MAX_VALUES} values" in result.stderr


@pytest.mark.parametrize("command", ["validate", "plan", "check"])
def test_every_spec_reader_refuses_the_bomb(cli, tmp_path: Path, command: str) -> None:
    """validate, plan and check all read the spec through the same limits."""
    args = [command, write(tmp_path, VALID + BILLION_LAUGHS)]
    result = cli(*args, "--offline") if command == "plan" else cli(*args)
    assert result.exit_code == 2, result.stderr
    assert f"more than {MAX_VALUES} values" in result.stderr


def test_recursive_alias_exits_2(cli, tmp_path: Path) -> None:
    """An alias that refers to the value containing it exits 2 naming the alias and its line."""
    result = cli("validate", write(tmp_path, VALID + "env: &loop\n  A: [*loop]\n"))
    assert result.exit_code == 2, result.stderr
    assert "job.yaml:7: recursive alias *loop" in result.stderr


@pytest.mark.parametrize(
    ("depth", "message"), [(900, f"job.yaml:6: nesting deeper than {MAX_DEPTH} levels"), (50_000, "nesting depth")]
)
def test_nesting_past_the_limit_exits_2(cli, tmp_path: Path, depth: int, message: str) -> None:
    """Lists nested far deeper than any spec exit 2 naming the depth limit (no recursion error)."""
    result = cli("validate", write(tmp_path, VALID + "env: " + "[" * depth + "]" * depth + "\n"))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("cost_center: !custom cc-1\n", "!custom"),
        ("cost_center: !!python/name:os.system ''\n", "tag:yaml.org,2002:python/name:os.system"),
        ("env: !custom {A: b}\n", "!custom"),
        ("secrets: !!python/tuple [A]\n", "tag:yaml.org,2002:python/tuple"),
    ],
)
def test_unknown_tag_exits_2_naming_it(cli, tmp_path: Path, text: str, tag: str) -> None:
    """A tag outside YAML's core schema, on a scalar or a collection, exits 2 naming the tag and line."""
    result = cli("validate", write(tmp_path, VALID + text))
    assert result.exit_code == 2, result.stderr
    assert f"job.yaml:6: unknown YAML tag {tag}" in result.stderr


def test_oversized_document_exits_2(cli, tmp_path: Path) -> None:
    """A spec file over the size limit exits 2 naming the limit."""
    result = cli("validate", write(tmp_path, VALID + "# " + "x" * MAX_BYTES + "\n"))
    assert result.exit_code == 2, result.stderr
    assert f"over the limit of {MAX_BYTES} bytes" in result.stderr


def test_ordinary_anchors_and_core_tags_still_work(cli, tmp_path: Path) -> None:
    """A spec that reuses a value through an anchor and spells a core tag validates as before."""
    text = VALID + "cost_center: !!str cc-1\nenv: &shared\n  LR: '0.1'\n  BATCH: '32'\n"
    result = cli("validate", write(tmp_path, text), "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert '"cost_center": "cc-1"' in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BILLION_LAUGHS, f"more than {MAX_VALUES} values"),
        ("all: !custom advisory\n", "unknown YAML tag !custom"),
        ("all: [advisory\n", "not valid YAML"),
    ],
)
def test_policy_config_yaml_has_the_same_limits(cli, tmp_path: Path, text: str, message: str) -> None:
    """`check --policy-config` refuses a hostile or broken YAML config with exit 2, not a crash."""
    spec = write(tmp_path, VALID)
    config = write(tmp_path, text, "policy.yaml")
    result = cli("check", spec, "--policy-config", config)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
