"""`trainctl logs JOB [-f] [--node K|all]`: the job's output (a multi-node job: one node's, or every node's)."""

from __future__ import annotations

import sys

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import output_option


@click.command("logs")
@click.argument("job", shell_complete=complete_job_id)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option(
    "--node",
    "node",
    default="0",
    metavar="K|all",
    help="A multi-node job: node K's output (default 0, rank 0), or `all` nodes' interleaved, each line prefixed [node K].",
)
@output_option
def command(job: str, follow: bool, node: str, output: str) -> None:
    """Print JOB's output (setup and run, stdout and stderr interleaved)."""
    from orchestrator.lifecycle.context import Runtime
    from orchestrator.lifecycle.query import job_output

    if node != "all" and not node.isdigit():
        raise click.BadParameter(f"{node!r} is not a node rank (0, 1, ...) or 'all'", param_hint="--node")
    rank = None if node == "all" else int(node)
    for chunk in job_output(Runtime(), job, follow_output=follow, node=rank):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
