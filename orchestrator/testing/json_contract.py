"""The JSON contract of the CLI: every document a command prints with ``--output json`` against its schema in docs/json/.

Schemas are named after the command path (``ls.json``, ``engine-show.json``, ``cost-report.json``);
``error.json`` is the shape of an error, ``common.json`` holds shared definitions. Tests call
``check_document`` on real outputs (the ``cli`` fixture and ``Trainctl.json`` do it for every JSON
output they see), so a shape that drifts from its schema fails the test that produced it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "json"
SHARED = ("common", "error")  # schema files that belong to no command
GLOBAL_OPTIONS_WITH_VALUE = ("--log-format",)


def json_commands() -> list[str]:
    """Every command path (``prices-show``) whose ``--output`` offers json, hidden commands included."""
    from orchestrator.cli.main import COMMANDS, HIDDEN, cli

    ctx = click.Context(cli)
    names: list[str] = []
    for name in [*COMMANDS, *HIDDEN]:
        command = cli.get_command(ctx, name)
        if command is not None:
            names.extend(_json_leaves(command, name))
    return names


def _json_leaves(command: click.Command, path: str) -> list[str]:
    if isinstance(command, click.Group):
        return [leaf for sub, child in command.commands.items() for leaf in _json_leaves(child, f"{path}-{sub}")]
    for param in command.params:
        if isinstance(param, click.Option) and "--output" in param.opts and isinstance(param.type, click.Choice):
            return [path] if "json" in param.type.choices else []
    return []


def command_path(args: Sequence[str]) -> str:
    """The schema name of the command ``args`` (a trainctl argv) runs: ``["cost", "--by", "team"]`` -> ``cost-report``."""
    from orchestrator.cli.main import cli

    words = _positionals(args)
    if not words:
        raise ValueError(f"no command in {list(args)}")
    ctx = click.Context(cli)
    command = cli.get_command(ctx, words[0])
    path = [words[0]]
    while isinstance(command, click.Group):
        sub = words[len(path)] if len(words) > len(path) and words[len(path)] in command.commands else "report"
        command = command.commands.get(sub)
        path.append(sub)
    return "-".join(path)


def _positionals(args: Sequence[str]) -> list[str]:
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in GLOBAL_OPTIONS_WITH_VALUE and not words:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return words


def asks_for_json(args: Sequence[str]) -> bool:
    """Whether the argv asks for ``--output json`` (in any of click's spellings)."""
    pairs = zip(args, [*args[1:], ""], strict=True)
    return any((a in ("--output", "-o") and b == "json") or a in ("--output=json", "-ojson") for a, b in pairs)


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The schema docs/json/<name>.json."""
    path = SCHEMAS / f"{name}.json"
    if not path.exists():
        raise AssertionError(f"no JSON Schema {path} for `trainctl {name.replace('-', ' ')} --output json`")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@functools.cache
def _registry() -> Any:
    from referencing import Registry, Resource

    resources = [(p.name, Resource.from_contents(json.loads(p.read_text()))) for p in sorted(SCHEMAS.glob("*.json"))]
    return Registry().with_resources(resources)


def validate(document: Any, name: str) -> None:
    """Raise jsonschema's ValidationError (naming the path and the schema) when ``document`` does not fit ``name``."""
    from jsonschema import Draft202012Validator

    Draft202012Validator(schema(name), registry=_registry()).validate(document)


def check_document(args: Sequence[str], stdout: str, exit_code: int) -> Any:
    """Parse the JSON document a run of ``trainctl *args`` printed and check it against its schema: the error
    schema when it failed with an error document, else the command's. Returns the document."""
    document = json.loads(stdout)
    failed = exit_code != 0 and isinstance(document, dict) and "error" in document and "message" in document
    validate(document, "error" if failed else command_path(args))
    return document
