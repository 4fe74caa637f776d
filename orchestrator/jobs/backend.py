"""Which backend a job belongs to: a short, stable id of the normalized backend URL.

Every resource of a job carries it (tag ``trainctl:backend``, ``vocabulary.Tag.BACKEND``; a local agent and its run carry it in
their environment as ``TRAINCTL_JOB_BACKEND``) so that `gc`, which judges live resources against the
stacks of one backend, leaves alone what belongs to another backend's jobs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

BACKEND_VAR = "TRAINCTL_JOB_BACKEND"


def backend_id(url: str) -> str:
    """12 hex digits naming the backend at ``url``, the same for every spelling of it.

    Normalized: scheme and host in lowercase, no query (endpoints and regions say how to reach the
    backend, not which one it is), no trailing '/', and a ``file://`` path made absolute with links
    resolved.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "file":
        where = str(Path(unquote(parts.netloc + parts.path)).expanduser().resolve())
    else:
        where = parts.netloc.lower() + parts.path.rstrip("/")
    return hashlib.sha256(f"{scheme}://{where}".encode()).hexdigest()[:12]
