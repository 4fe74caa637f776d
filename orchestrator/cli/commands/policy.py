"""`trainctl policy publish FILE` / `policy show`: the team's policy, kept in the backend for every member."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.confirm import confirm_destructive, yes_option
from orchestrator.cli.output import emit, output_option, say


@click.group("policy")
def command() -> None:
    """The team policy every member's plan, up and check obey."""


@command.command("publish")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@yes_option("Replace a published team policy without asking (for scripts).")
@output_option
def publish(file: Path, yes: bool, output: str) -> None:
    """Store FILE (a policy config, JSON or YAML) as the team policy in the backend."""
    from orchestrator.policy.publish import check_policy_file, publish_policy
    from orchestrator.policy.team import published_policy
    from orchestrator.settings import get_settings

    settings = get_settings()
    check_policy_file(file)  # a bad file exits 2 before anyone is asked anything
    current = published_policy(settings)
    if current is not None:
        confirm_destructive(
            f"replace {current.origin()} ({current.to_dict()['published_at']})",
            yes=yes,
            command=f"trainctl policy publish {file}",
        )
    published = publish_policy(settings, file)
    emit(published.to_dict(), lambda: say(f"published {file} as the team policy ({published.to_dict()['location']})"))


@command.command("show")
@output_option
def show(output: str) -> None:
    """Print the published team policy, who published it and when."""
    import json

    from orchestrator.policy.team import published_policy
    from orchestrator.settings import get_settings

    published = published_policy(get_settings())
    if published is None:
        emit({"published": False}, lambda: say("no team policy is published in this backend (`trainctl policy publish FILE`)"))
        return
    doc = published.to_dict()

    def text() -> None:
        say(f"team policy published by {doc['published_by']} at {doc['published_at']} from {doc['source']}")
        say(f"kept at {doc['location']}")
        say(json.dumps(doc["config"], indent=2, sort_keys=True))

    emit(doc, text)
