"""Shell completion of job ids, from the job index alone (no engine, no pulumi, no pydantic, no request).

Every Tab press starts a fresh trainctl process, so this reads only names on this machine: a file
backend's record files, or the ids in a remote index's local cache (as of the last `ls`), and imports
nothing heavy. The backend in force is read as the settings read it (environment, then config.toml).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from click.shell_completion import CompletionItem

from orchestrator.home import trainctl_home
from orchestrator.jobs.layout import default_state_url, known_job_ids


def job_ids(prefix: str = "") -> list[str]:
    """The ids of the jobs in the job index that start with ``prefix``, newest first."""
    home = trainctl_home()
    matching = [(when, job_id) for when, job_id in known_job_ids(home, _state_url(home)) if job_id.startswith(prefix)]
    return [job_id for _, job_id in sorted(matching, reverse=True)]


def _state_url(home: Path) -> str:
    """``TRAINCTL_BACKEND_URL``, else ``backend_url`` of config.toml, else the home's default backend."""
    url = os.environ.get("TRAINCTL_BACKEND_URL")
    if not url:
        try:
            with (home / "config.toml").open("rb") as handle:
                url = tomllib.load(handle).get("backend_url")
        except (OSError, ValueError):
            url = None
    return url if isinstance(url, str) and url else default_state_url(home)


def complete_job_id(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """``shell_complete`` of a JOB argument: the matching job ids."""
    return [CompletionItem(job_id) for job_id in job_ids(incomplete)]
