"""`trainctl init [DIR] [--target local|aws]`: a commented job.yaml (and a train.py) to start from."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import emit_json, is_json, output_option, say


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--target", type=click.Choice(["local", "aws"]), default="local", show_default=True, help="Where the job runs.")
@click.option("--force", is_flag=True, help="Replace an existing job.yaml.")
@output_option
def command(directory: Path, target: str, force: bool, output: str) -> None:
    """Write DIRECTORY/job.yaml (valid as is) and a train.py that follows the training-script contract."""
    from orchestrator.scaffold import init_job_dir

    done = init_job_dir(directory, target=target, force=force)
    if is_json():
        emit_json({"written": [str(p) for p in done.written], "kept": [str(p) for p in done.kept]})
        return
    for path in done.written:
        say(f"wrote {path}")
    for path in done.kept:
        say(f"kept {path} (already there)")
    say(f"next: trainctl validate {done.directory / 'job.yaml'}")
