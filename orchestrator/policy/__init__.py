"""The policy pack, seen from trainctl: where it is, its config, the engine's verdicts, offline checks.

The policies live in ``policies/`` (a Pulumi policy pack served by an executable launcher); their logic
is plain functions that both the engine (through the pack) and ``check_plan`` (offline) call.
"""

from __future__ import annotations

from orchestrator.policy.collector import PolicyCollector
from orchestrator.policy.config import engine_policy_args, load_config
from orchestrator.policy.evaluate import check_plan
from orchestrator.policy.model import Violation
from orchestrator.policy.pack import pack_path

__all__ = ["PolicyCollector", "Violation", "check_plan", "engine_policy_args", "load_config", "pack_path"]
