"""The team's policy, published once in the backend and obeyed by every member's `plan`, `up` and `check`.

`trainctl policy publish FILE` stores a policy config (the pack's config shape, per-team rules
included) in the backend object store, ``policy/team.json`` beside the job index, with who published
it and when. Every member's effective config is then the pack's defaults, the published policy over
them, and the member's own ``--policy-config`` last: that one may tighten a rule, never loosen it
(orchestrator/policy/tighten.py). A backend trainctl keeps no objects in has no team policy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InvalidInputError

if TYPE_CHECKING:
    from orchestrator.settings import Settings
    from orchestrator.store import BackendStore

TEAM_POLICY_KEY = "policy/team.json"
FORMAT = 1


@dataclass(frozen=True)
class Published:
    """A published team policy: its config document and where it came from."""

    config: dict[str, Any]
    published_by: str
    published_at: float
    source: str  # the file name it was published from
    location: str  # where it is kept (the backend store)

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": True,
            "published_by": self.published_by,
            "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.published_at)),
            "source": self.source,
            "location": f"{self.location}/{TEAM_POLICY_KEY}",
            "config": self.config,
        }

    def origin(self) -> str:
        """How errors and notices name it."""
        return f"the team policy published by {self.published_by}"


def published_policy(settings: Settings) -> Published | None:
    """The team policy published in the backend in force (None: none published, or a backend without objects)."""
    store = _store(settings)
    data = store.read(TEAM_POLICY_KEY) if store is not None else None
    if data is None:
        return None
    try:
        doc = json.loads(data)
        return Published(
            config=dict(doc["config"]),
            published_by=str(doc["published_by"]),
            published_at=float(doc["published_at"]),
            source=str(doc.get("source") or ""),
            location=store.location if store is not None else "",
        )
    except (ValueError, KeyError, TypeError) as e:
        where = f"{store.location}/{TEAM_POLICY_KEY}" if store is not None else TEAM_POLICY_KEY
        raise InvalidInputError(
            f"the published team policy at {where} cannot be read: {e}",
            hint="publish it again: `trainctl policy publish FILE`",
        ) from e


def store_policy(settings: Settings, document: dict[str, Any], source: str) -> Published:
    """Store ``document`` (a checked policy config) as the team policy, naming who published it and when."""
    from orchestrator.jobs.records import who_starts

    store = _store(settings)
    if store is None:
        raise InvalidInputError(
            "this backend keeps no team policy",
            context={"backend": settings.state_url.split("?", 1)[0]},
            hint="publish to a file:// or s3:// backend (TRAINCTL_BACKEND_URL)",
        )
    login = who_starts()
    published = Published(
        config=document,
        published_by=f"{settings.owner} ({login})" if settings.owner else login,
        published_at=time.time(),
        source=source,
        location=store.location,
    )
    record = {
        "format": FORMAT,
        "config": published.config,
        "published_by": published.published_by,
        "published_at": published.published_at,
        "source": published.source,
    }
    store.write(TEAM_POLICY_KEY, json.dumps(record, indent=1, sort_keys=True).encode())
    return published


def _store(settings: Settings) -> BackendStore | None:
    from orchestrator.store import STORES, backend_store

    if settings.state_url.split("://", 1)[0].lower() not in STORES:
        return None
    return backend_store(settings.state_url)
