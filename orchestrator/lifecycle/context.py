"""The runtime a lifecycle operation needs: settings, the job ledger, the engine workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from orchestrator.jobs.index import Ledger
from orchestrator.settings import Settings, get_settings

if TYPE_CHECKING:
    from orchestrator.engine.automation import Workspace


@dataclass
class Runtime:
    """Lazily built collaborators: the engine is started only by operations that need it."""

    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger.of(self.settings)

    def bind(self, job_id: str) -> None:
        """Put ``job_id`` in the logging context (and so on every span), with its target and team when it has a record."""
        from orchestrator.logs import bind_job

        known = self.ledger.load(job_id)
        bind_job(job_id, **({"target": known.target, "team": known.team} if known is not None else {}))

    @cached_property
    def workspace(self) -> Workspace:
        from orchestrator.engine.automation import Workspace

        return Workspace(self.settings)
