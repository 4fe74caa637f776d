"""Policy tests: the pack in policies/ (never an override from the environment), helpers to build resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.policy.config import load_config, resolve
from orchestrator.policy.model import Finding, PolicyDef, Resource
from orchestrator.policy.pack import load_policies

DYNAMIC = "pulumi-python:dynamic:Resource"
JOB_TAGS = {
    "trainctl:job-id": "resnet-abc123",
    "trainctl:job-name": "resnet",
    "trainctl:team": "vision",
    "trainctl:owner": "alice@example.com",
    "trainctl:managed-by": "trainctl",
}


@pytest.fixture(autouse=True)
def repo_pack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests use the pack of this checkout, whatever TRAINCTL_POLICY_PACK says outside."""
    monkeypatch.delenv("TRAINCTL_POLICY_PACK", raising=False)
    yield


def policy(name: str) -> PolicyDef:
    """The pack's policy called ``name``."""
    return {p.name: p for p in load_policies()}[name]


def findings(name: str, resource: Resource, config: dict[str, Any] | None = None, team: str | None = "vision") -> list[Finding]:
    """What policy ``name`` finds on one resource, with the shipped defaults (or ``config``) for ``team``."""
    defn = policy(name)
    _, props = resolve(config or load_config(), name, team)
    assert defn.check is not None, f"{name} is a stack policy"
    return list(defn.check(resource, props))


def stack_findings(name: str, resources: list[Resource], config: dict[str, Any] | None = None) -> list[Finding]:
    """What stack policy ``name`` finds over ``resources`` with the shipped defaults (or ``config``)."""
    defn = policy(name)
    _, props = resolve(config or load_config(), name, "vision")
    assert defn.check_stack is not None, f"{name} is a resource policy"
    return list(defn.check_stack(resources, props))


def manifest(**overrides: Any) -> Resource:
    """A job manifest (AWS g5.xlarge spot with fallback, 2h, 20 USD) with ``overrides`` (None removes a key)."""
    props: dict[str, Any] = {
        "kind": "trainctl:job",
        "job_id": "resnet-abc123",
        "target": "aws",
        "team": "vision",
        "owner": "alice@example.com",
        "instance_type": "g5.xlarge",
        "region": "us-east-1",
        "spot": True,
        "on_demand_fallback": True,
        "disk_gb": 100,
        "max_runtime_s": 7200,
        "max_cost_usd": 20.0,
        "hourly_usd": 1.006,
        "tags": dict(JOB_TAGS),
    }
    props.update(overrides)
    return Resource(DYNAMIC, "job-manifest", {k: v for k, v in props.items() if v is not None})


def local_manifest(**overrides: Any) -> Resource:
    """A local job's manifest (no cloud facts) with ``overrides``."""
    base = {"target": "local", "instance_type": None, "region": None, "spot": False, "on_demand_fallback": False, "disk_gb": None}
    return manifest(**{"hourly_usd": 0.0, **base, **overrides})


def aws(type_: str, props: dict[str, Any], name: str = "thing", provider: dict[str, Any] | None = None) -> Resource:
    """An AWS resource (``type_`` like "ec2/instance:Instance") with ``props``."""
    return Resource(f"aws:{type_}", name, props, urn=f"urn:pulumi:j::trainctl::aws:{type_}::{name}", provider=provider)
