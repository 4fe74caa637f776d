"""Rendering for commands: text for people, JSON on stdout for machines, errors in one shape."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from orchestrator.errors import TrainctlError

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    mode = "text"


STATE = _State()


def _set_mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    STATE.mode = value
    return value


def output_option(func: F) -> F:
    """The ``--output text|json`` option every command takes."""
    option = click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        is_eager=True,
        callback=_set_mode,
        help="text for people; json on stdout for machines (logs stay on stderr)",
    )
    return option(func)


def is_json() -> bool:
    """Whether the running command was asked for JSON."""
    return STATE.mode == "json"


def emit_json(payload: Any) -> None:
    """Write ``payload`` as JSON on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def say(message: str = "") -> None:
    """A line of text for people: stdout in text mode, stderr when stdout carries JSON."""
    click.echo(message, err=is_json())


def notice(message: str) -> None:
    """A side remark (stderr, never mixed into JSON)."""
    click.echo(f"notice: {message}", err=True)


def render_error(error: TrainctlError) -> None:
    """Print an error: its message, one line per detail, and the hint."""
    if is_json():
        emit_json(error.to_dict())
    click.echo(f"error: {error.message}", err=True)
    for line in error.details:
        click.echo(f"  {line}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)
