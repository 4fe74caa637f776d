"""The trainctl policies as plain functions (one module per policy), shared by the pack and `trainctl check`.

To add a policy: write a module here that defines ``POLICY`` (an ``orchestrator.policy.model.PolicyDef``),
list it in ``MODULES``, give it defaults in ``../defaults.json`` and tests in ``tests/policy/``.
"""

from __future__ import annotations

import importlib

from orchestrator.policy.model import PolicyDef

MODULES = (
    "required_tags",
    "allowed_instance_types",
    "max_hourly_cost",
    "max_job_cost",
    "max_nodes",
    "require_max_runtime",
    "spot_preferred",
    "private_artifacts",
    "no_open_ingress",
    "imdsv2_required",
    "encrypted_volumes",
    "allowed_regions",
)


def all_policies() -> list[PolicyDef]:
    """Every policy, in the order of ``MODULES``; names must be unique and each needs exactly one check."""
    policies: list[PolicyDef] = [importlib.import_module(f"{__name__}.{name}").POLICY for name in MODULES]
    names = [p.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"policy names must be unique: {', '.join(duplicates)}")
    for policy in policies:
        if (policy.check is None) == (policy.check_stack is None):
            raise ValueError(f"policy {policy.name} must define exactly one of check and check_stack")
    return policies
