"""`trainctl schema`: the JSON Schema of the job spec, for editors and CI linters."""

from __future__ import annotations

import click

from orchestrator.cli.output import emit, emit_json, output_option


@click.command("schema")
@output_option
def command(output: str) -> None:
    """Print the JSON Schema of job spec trainctl/v1 (always JSON)."""
    from orchestrator.spec.models import json_schema

    schema = json_schema()
    emit(schema, lambda: emit_json(schema))  # JSON either way: the schema is for machines
