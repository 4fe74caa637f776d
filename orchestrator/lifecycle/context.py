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

    @cached_property
    def workspace(self) -> Workspace:
        from orchestrator.engine.automation import Workspace

        return Workspace(self.settings)
