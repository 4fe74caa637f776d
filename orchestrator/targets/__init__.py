"""Targets (local, aws, ...) behind one small interface, chosen from a table."""

from __future__ import annotations

import importlib

from orchestrator.errors import InvalidInputError
from orchestrator.targets.base import Target

# target name -> "module:attribute"; imported only when that target is used.
TARGETS: dict[str, str] = {
    "local": "orchestrator.targets.local.target:LocalTarget",
    "aws": "orchestrator.targets.aws.target:AwsTarget",
}


def get_target(name: str) -> Target:
    """The target registered under ``name``."""
    if name not in TARGETS:
        raise InvalidInputError(f"unknown target {name!r}", hint=f"targets: {', '.join(TARGETS)}")
    module_name, attr = TARGETS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise InvalidInputError(f"target {name!r} is not available in this build: {e}") from e
    target: Target = getattr(module, attr)()
    return target
