"""The spec's rules that a JSON Schema cannot say, as plain functions (no pydantic here).

The pydantic models run them as validators and name them in the JSON Schema (``x-trainctl-rule`` on a
field, ``x-trainctl-document-rules`` on the spec), so the fast path of ``trainctl validate``
(``orchestrator.spec.fastpath``) runs the very same code without importing pydantic.

A field rule takes the field's value and returns it in its normalized (JSON) form, or raises
ValueError with the message a user sees. A document rule takes the whole normalized document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from orchestrator.spec.durations import format_duration, parse_duration

# Where the JSON Schema names the rules: on a field, and on the spec for the document rules.
RULE_KEY = "x-trainctl-rule"
DOCUMENT_RULES_KEY = "x-trainctl-document-rules"
TARGETS = ("local", "aws")
CLOUD_RESOURCE_FIELDS = ("instance_type", "spot", "on_demand_fallback", "disk_gb", "region", "ami")
RESERVED_ENV_PREFIX = "TRAINCTL_"
_JOB_NAME = re.compile(r"^[a-z][a-z0-9-]{2,39}\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def duration_seconds(value: Any) -> int:
    """A duration string (``90s``, ``30m``, ``2h``, ``1d``) as whole seconds."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("must be a duration string such as 90s, 30m, 2h or 1d")
    return parse_duration(value)


def duration(value: Any) -> str:
    """A duration in its normalized spelling (``5400s`` -> ``90m``)."""
    return format_duration(duration_seconds(value))


def job_name(value: str) -> str:
    """3 to 40 characters: lowercase letters, digits and '-', starting with a letter."""
    if not _JOB_NAME.match(value):
        raise ValueError("must be 3 to 40 characters of lowercase letters, digits and '-', starting with a letter")
    return value


def env_names(value: dict[str, str]) -> dict[str, str]:
    """Keys are environment variable names; names starting with TRAINCTL_ are reserved."""
    for key in value:
        _check_env_name(key)
    return value


def secret_names(value: list[str]) -> list[str]:
    """Environment variable names, each at most once; names starting with TRAINCTL_ are reserved."""
    for key in value:
        _check_env_name(key)
    if len(set(value)) != len(value):
        raise ValueError("lists a secret name more than once")
    return value


def relative_path(value: str) -> str:
    """A relative path inside the job's working directory (no leading '/', no '..')."""
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError("must be a relative path inside the job's working directory")
    return value


def _check_env_name(key: str) -> None:
    if not _ENV_NAME.match(key):
        raise ValueError(f"{key!r} is not a valid environment variable name")
    if key.startswith(RESERVED_ENV_PREFIX):
        raise ValueError(f"{key!r}: names starting with {RESERVED_ENV_PREFIX} are reserved for trainctl")


def aws_needs_instance_type(document: dict[str, Any]) -> None:
    """resources.instance_type is required when target is aws."""
    if document["target"] == "aws" and document["resources"]["instance_type"] is None:
        raise ValueError("resources.instance_type is required when target is aws")


def env_and_secrets_disjoint(document: dict[str, Any]) -> None:
    """A name is in env or in secrets, not in both."""
    clash = set(document["env"]) & set(document["secrets"])
    if clash:
        raise ValueError(f"{', '.join(sorted(clash))} is both in env and in secrets")


FIELD_RULES: dict[str, Callable[[Any], Any]] = {
    "duration": duration,
    "job_name": job_name,
    "env_names": env_names,
    "secret_names": secret_names,
    "relative_path": relative_path,
}
DOCUMENT_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "aws_needs_instance_type": aws_needs_instance_type,
    "env_and_secrets_disjoint": env_and_secrets_disjoint,
}


def check_document(document: dict[str, Any]) -> None:
    """Run every document rule; the first one that fails raises its ValueError."""
    for rule in DOCUMENT_RULES.values():
        rule(document)


def ignored_cloud_fields(target: str, resources_given: set[str] | dict[str, Any]) -> list[str]:
    """Cloud-only resource fields a spec sets although its target is local."""
    if target != "local":
        return []
    return [f"resources.{name}" for name in CLOUD_RESOURCE_FIELDS if name in resources_given]


def notices(target: str, resources_given: set[str] | dict[str, Any]) -> list[str]:
    """What a user should know about a valid spec (today: cloud fields a local job ignores)."""
    ignored = ignored_cloud_fields(target, resources_given)
    if not ignored:
        return []
    return [f"target is local: {', '.join(ignored)} ignored (they apply to cloud targets)"]
