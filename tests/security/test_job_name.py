"""A job name starts with a letter: a leading '-' would be read as a flag by the engine's CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC = "name: {name}\nteam: vision\nowner: alice@example.com\ncode:\n  run: python train.py\n"


@pytest.mark.parametrize("name", ["-rf-job", "--help", "1st-run", "-ab"])
@pytest.mark.parametrize("command", [("validate",), ("plan", "--offline"), ("check",)])
def test_name_not_starting_with_a_letter_exits_2(cli, tmp_path: Path, name: str, command: tuple[str, ...]) -> None:
    """validate, plan and check refuse the name with exit 2 naming the field, its line and the rule."""
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC.format(name=f"'{name}'"))
    result = cli(command[0], str(spec), *command[1:])
    assert result.exit_code == 2, result.stderr
    assert "job.yaml:1: name: " in result.stderr
    assert "starting with a letter" in result.stderr


def test_name_starting_with_a_letter_is_accepted(cli, tmp_path: Path) -> None:
    """A name with digits and dashes after its first letter stays valid."""
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC.format(name="a1-2-3"))
    assert cli("validate", str(spec)).exit_code == 0
