"""What the agent is told: written by the target as JSON, read by ``python -m orchestrator.agent``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AgentConfig:
    """Everything one supervised run needs. Secrets never appear here: they arrive in the environment."""

    job_id: str
    workdir: str
    run: str
    store_url: str
    setup: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Names only: the values are in the agent's environment; the run gets them, helper processes do not.
    secret_names: list[str] = field(default_factory=list)
    # Variables of the agent's environment the target lets through to the run besides the base.
    pass_env: list[str] = field(default_factory=list)
    checkpoint_path: str = "checkpoints"
    sync_interval_s: float = 60.0
    keep_last: int = 3
    max_runtime_s: float | None = None
    max_failures: int = 0
    grace_period_s: float = 10.0
    heartbeat_s: float = 2.0
    hourly_usd: float = 0.0
    # A spot job that may fall back to on-demand: the price to budget with if it did.
    on_demand_hourly_usd: float | None = None
    max_cost_usd: float | None = None
    started_at: float | None = None
    prior_runtime_s: float = 0.0
    prior_cost_usd: float = 0.0
    spot_notice_url: str | None = None
    shutdown_command: list[str] | None = None
    finalize_command: list[str] | None = None
    target: str = "local"  # where the job runs (the label of the agent's metrics)
    # Multi-node jobs: this node's rank, how many nodes, every node's address in rank order (rank 0's
    # is the rendezvous address) and the rendezvous port. One node: rank 0 of 1, no addresses.
    node_rank: int = 0
    num_nodes: int = 1
    node_addrs: list[str] = field(default_factory=list)
    master_port: int | None = None
    # Which allocation of the job the node agents belong to (a relaunch gets a new one): a node never
    # takes an earlier allocation's group decisions for its own.
    launch_id: str = ""
    # A node whose heartbeat has not changed for this long is lost (a node not heard from at all gets
    # ``node_start_timeout_s``): the group stops and the job is relaunched as a whole.
    node_timeout_s: float = 30.0
    node_start_timeout_s: float = 600.0

    # Tracing (empty: off): the parent span's ``traceparent``, the OTLP traces ``endpoint`` and the job's
    # ``target`` and ``team`` (orchestrator.tracing.agent_context). No credentials: collector headers are not carried.
    trace: dict[str, str] = field(default_factory=dict)

    @property
    def multi_node(self) -> bool:
        """Whether this agent is one node of several."""
        return self.num_nodes > 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> AgentConfig:
        data: dict[str, Any] = json.loads(path.read_text())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def for_market(self, market: str | None) -> AgentConfig:
        """This config priced for how the instance was bought: a fallback to on-demand budgets at that price."""
        if market == "on-demand" and self.on_demand_hourly_usd is not None:
            return replace(self, hourly_usd=self.on_demand_hourly_usd)
        return self

    def deadline(self, started_at: float) -> tuple[float | None, str | None]:
        """When the run must stop and why: ``max_runtime`` or the dollar budget, whichever is first.

        Both limits are for the whole job: what earlier runs used (``prior_*``) is taken off.
        """
        limits: list[tuple[float, str]] = []
        if self.max_runtime_s is not None:
            limits.append((started_at + max(0.0, self.max_runtime_s - self.prior_runtime_s), "max_runtime"))
        if self.max_cost_usd is not None and self.hourly_usd > 0:
            left_usd = max(0.0, self.max_cost_usd - self.prior_cost_usd)
            limits.append((started_at + left_usd / self.hourly_usd * 3600.0, "budget"))
        if not limits:
            return None, None
        return min(limits)
