"""`trainctl completion bash|zsh|fish`: the shell's completion script (click's mechanism)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_TRAINCTL_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def command(shell: str) -> None:
    """Print the completion script for SHELL; see docs/install.md for where it goes."""
    from click.shell_completion import get_completion_class

    from orchestrator.cli.main import cli

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # every name in SHELLS is one of click's shells
    click.echo(completion_class(cli, {}, "trainctl", COMPLETE_VAR).source())
