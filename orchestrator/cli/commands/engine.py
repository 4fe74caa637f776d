"""`trainctl engine install|show`: the pinned Pulumi engine, installed with no internet."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from orchestrator.cli.output import emit, output_option, say

if TYPE_CHECKING:
    from orchestrator.engine.locate import Engine


@click.group("engine")
def command() -> None:
    """Install and inspect the Pulumi engine trainctl runs."""


@command.command("install")
@click.option("--force", is_flag=True, help="Reinstall even when the pinned version is there.")
@click.option("--no-download", is_flag=True, help="Skip the official download; use PATH or build with Go.")
@output_option
def install(force: bool, no_download: bool, output: str) -> None:
    """Install the pinned engine (PATH, else download, else build from the Go module proxy)."""
    from orchestrator.engine.install import install_engine
    from orchestrator.settings import get_settings

    settings = get_settings()
    engine = install_engine(
        settings.engines,
        progress=lambda line: click.echo(f"engine: {line}", err=True),
        allow_download=not no_download,
        force=force,
        legacy_dirs=settings.legacy_engines,
    )
    emit(_described(engine), lambda: None)  # text: the progress lines said it all


@command.command("show")
@output_option
def show(output: str) -> None:
    """Print where the engine is and its version."""
    from orchestrator.engine import find_engine

    engine = find_engine()
    emit(_described(engine), lambda: say(f"{engine.pulumi} v{engine.version} ({engine.source})"))


def _described(engine: Engine) -> dict[str, str]:
    return {"path": str(engine.pulumi), "engine_version": engine.version, "source": engine.source}
