"""The runtime a lifecycle operation needs: settings, the job ledger, the engine workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from orchestrator.jobs.records import Ledger
from orchestrator.settings import Settings, get_settings

if TYPE_CHECKING:
    from orchestrator.engine.automation import Workspace
    from orchestrator.spec.models import JobSpec


@dataclass
class Runtime:
    """Lazily built collaborators: the engine is started only by operations that need it."""

    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.settings.home)

    @cached_property
    def workspace(self) -> Workspace:
        from orchestrator.engine.automation import Workspace

        return Workspace(self.settings)

    def hourly_price(self, spec: JobSpec) -> float:
        """The hourly price of the job's compute (local: the configured amortised price)."""
        if spec.target == "local":
            return self.settings.local_hourly_usd
        from orchestrator.cost.catalog import current_catalog

        resources = spec.resources
        region = resources.region or self.settings.default_region
        assert resources.instance_type is not None
        return current_catalog().hourly(region, resources.instance_type, spot=resources.spot).usd

    def fallback_price(self, spec: JobSpec) -> float | None:
        """The on-demand price a spot job with ``on_demand_fallback`` pays if it falls back (else None)."""
        resources = spec.resources
        if spec.target == "local" or not (resources.spot and resources.on_demand_fallback):
            return None
        from orchestrator.cost.catalog import current_catalog

        assert resources.instance_type is not None
        region = resources.region or self.settings.default_region
        return current_catalog().hourly(region, resources.instance_type, spot=False).usd
