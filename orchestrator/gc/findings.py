"""What `gc` finds, in one shape for every target."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Finding:
    """One leaked resource, expired job or stale lock."""

    kind: str  # leaked-process | leaked-directory | leaked-<aws type> | expired-job | stale-lock
    job_id: str
    resource: str
    detail: str
    removed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StackFacts:
    """What one job stack's state says exists (the first side of the three-way check)."""

    job_id: str
    resources: list[dict[str, Any]]
    pending: list[dict[str, Any]]

    @property
    def has_pending_create(self) -> bool:
        """A create the engine may have started: whatever it made counts as live, never as gone."""
        return any(op.get("type") == "creating" for op in self.pending)

    def outputs_of(self, key: str) -> list[Any]:
        return [(r.get("outputs") or {}).get(key) for r in self.resources if key in (r.get("outputs") or {})]
