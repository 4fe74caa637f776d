"""Shell completion of job ids, from the job index alone (no engine, no pulumi, no pydantic).

Every Tab press starts a fresh trainctl process, so this reads only file names in
``$TRAINCTL_HOME/jobs`` (one ``<job id>.json`` per job) and imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

from click.shell_completion import CompletionItem

from orchestrator.home import trainctl_home


def job_ids(prefix: str = "") -> list[str]:
    """The ids of the jobs in the local job index that start with ``prefix``, newest first."""
    directory = trainctl_home() / "jobs"
    try:
        entries = [e for e in directory.iterdir() if e.name.endswith(".json") and not e.name.startswith(".")]
    except OSError:
        return []
    matching = [(e.stat().st_mtime, e.name[: -len(".json")]) for e in entries if e.name.startswith(prefix)]
    return [job_id for _, job_id in sorted(matching, reverse=True)]


def complete_job_id(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """``shell_complete`` of a JOB argument: the matching job ids."""
    return [CompletionItem(job_id) for job_id in job_ids(incomplete)]
