"""`trainctl logs JOB [-f] [--node K|all]`: the job's output (a multi-node job: one node's, or every node's)."""

from __future__ import annotations

import sys

import click

from orchestrator.cli.complete import complete_job_id
from orchestrator.cli.output import emit_json, is_json, output_option


@click.command("logs")
@click.argument("job", shell_complete=complete_job_id)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends (JSON: one document once it ends).")
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
    rt = Runtime()
    job_id = rt.ledger.resolve(job).job_id
    chunks = job_output(rt, job_id, follow_output=follow, node=rank)
    if is_json():
        text = b"".join(chunks).decode("utf-8", errors="replace")
        emit_json({"job_id": job_id, "output": text})
        return
    for chunk in chunks:
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
