"""Rendering for commands: text for people, JSON on stdout for machines, errors in one shape."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from orchestrator.errors import InternalError, TrainctlError

F = TypeVar("F", bound=Callable[..., Any])

# The version of every JSON document trainctl prints (the top-level ``version`` key). Their shapes are
# documented by the JSON Schemas in docs/json/; a change that could break a reader (a field removed,
# renamed or retyped) is a deliberate bump of this number, with the schemas changed to match.
JSON_VERSION = 1


class _State:
    mode = "text"
    emitted = False  # a JSON document is on stdout already: stdout carries one document per command


STATE = _State()
TEXT_AND_JSON = ("text", "json")


def reset_output() -> None:
    """Text mode, nothing printed yet: the state every command starts from."""
    STATE.mode = "text"
    STATE.emitted = False


def _set_mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    STATE.mode = value
    STATE.emitted = False
    return value


def output_choice(*formats: str) -> Callable[[F], F]:
    """The ``--output`` option with ``formats`` (the first is the default): every command's one way to
    choose its output. ``text`` is for people; any other format goes to stdout and everything else
    (progress, notices, errors' text) to stderr."""
    option = click.option(
        "--output",
        "-o",
        type=click.Choice(formats),
        default=formats[0],
        show_default=True,
        is_eager=True,
        callback=_set_mode,
        help=f"text for people; {' or '.join(f for f in formats if f != 'text')} on stdout for machines (logs stay on stderr)",
    )
    return option


def output_option(func: F) -> F:
    """The ``--output text|json`` option every command takes (``output_choice`` for more formats)."""
    return output_choice(*TEXT_AND_JSON)(func)


def is_json() -> bool:
    """Whether the running command was asked for JSON."""
    return STATE.mode == "json"


def emit(payload: Mapping[str, Any], text: Callable[[], None], **formats: Callable[[], None]) -> None:
    """Print the command's result as ``--output`` asks: ``payload`` as JSON (an object: see ``emit_json``), the
    renderer of that name in ``formats`` (``csv=...``), else ``text()`` for people."""
    if STATE.mode == "json":
        emit_json(payload)
    else:
        formats.get(STATE.mode, text)()


def emit_json(payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as one JSON object on stdout, with the top-level ``version`` of the JSON contract first."""
    if "version" in payload:
        raise InternalError("a JSON document of trainctl may not carry its own 'version' key", context={"keys": sorted(payload)})
    STATE.emitted = True
    document = {"version": JSON_VERSION, **payload}
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def emit_document(text: str) -> None:
    """Write a document in a format other than JSON (``--output markdown``) on stdout, as it is."""
    STATE.emitted = True
    sys.stdout.write(text)
    sys.stdout.flush()


def say(message: str = "") -> None:
    """A line of text for people: stdout in text mode, stderr when stdout carries JSON, CSV, ..."""
    click.echo(message, err=STATE.mode != "text")


def notice(message: str) -> None:
    """A side remark (stderr, never mixed into JSON)."""
    click.echo(f"notice: {message}", err=True)


def render_error(error: TrainctlError) -> None:
    """Print an error: its message, one line per detail, and the hint. In JSON mode the error is the
    command's document, unless the command printed its own first (a blocked ``plan`` prints the plan,
    whose policy verdict says why): stdout never carries two documents."""
    if is_json() and not STATE.emitted:
        emit_json(error.to_dict())
    click.echo(f"error: {error.message}", err=True)
    for line in error.details:
        click.echo(f"  {line}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)
