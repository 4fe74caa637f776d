"""`trainctl metrics serve|show`: trainctl's Prometheus metrics, served for scraping or printed once."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, output_option, say

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464


@click.group("metrics")
def command() -> None:
    """Prometheus metrics: jobs, cost, cloud API calls, allocation, checkpoints, script metrics."""


@command.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
def serve(host: str, port: int) -> None:
    """Serve /metrics (Prometheus text format) and /healthz until interrupted."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.metrics.exporter import serve as serve_metrics

    serve_metrics(Runtime(), host, port, ready=lambda url: click.echo(f"serving {url}/metrics and {url}/healthz", err=True))


@command.command("show")
@output_option
def show(output: str) -> None:
    """Print the metrics once: the Prometheus text format, or JSON."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.metrics.exporter import exposition, registry_for, samples

    registry = registry_for(Runtime())
    document = {"metrics": samples(registry)} if output == "json" else {}  # collected once, for the format asked
    emit(document, lambda: say(exposition(registry).decode().rstrip("\n")))
