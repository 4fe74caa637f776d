"""Confirmation for destructive commands: one rule for every command that deletes what it cannot restore.

``--yes`` goes ahead (for scripts and CI). Otherwise a person on a terminal is asked, and anything
but yes leaves everything as it was. Without a terminal and without ``--yes`` the command refuses
(exit 2) and says how to confirm: a script never deletes by default.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from orchestrator.errors import InvalidInputError

F = TypeVar("F", bound=Callable[..., Any])


class NotConfirmedError(InvalidInputError):
    """A destructive command was not confirmed (no ``--yes``, no terminal, or the answer was no)."""


def yes_option(help_text: str = "Do not ask for confirmation (for scripts).") -> Callable[[F], F]:
    """The ``--yes/-y`` flag of a destructive command (as a decorator: ``@yes_option()``)."""
    return click.option("--yes", "-y", is_flag=True, help=help_text)


def confirm_destructive(action: str, *, yes: bool, command: str) -> None:
    """Return when ``action`` may go ahead; raise NotConfirmedError (exit 2) when it may not."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmedError(
            f"refusing to {action} without confirmation: there is no terminal to ask on",
            hint=f"confirm in the command itself: `{command} --yes`",
        )
    if not click.confirm(f"{action[0].upper()}{action[1:]}?", default=False, err=True):
        raise NotConfirmedError(
            f"not confirmed: nothing was done (did not {action})", hint=f"`{command} --yes` skips the question"
        )
