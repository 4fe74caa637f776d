"""`policy publish`: check a policy config file, then store it as the team's policy in the backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.policy.config import load_defaults, merge, read_config_file
from orchestrator.policy.pack import load_policies
from orchestrator.policy.team import Published, store_policy

if TYPE_CHECKING:
    from orchestrator.settings import Settings


def check_policy_file(file: Path) -> dict[str, Any]:
    """The config document in ``file``; InvalidInputError (exit 2) naming the first bad key when it is not valid."""
    document = read_config_file(file)
    policies = load_policies()
    merge(load_defaults(policies), document, policies, origin=str(file))  # raises naming every bad key
    return dict(document)


def publish_policy(settings: Settings, file: Path) -> Published:
    """Store ``file`` as the team policy; when it is not a valid policy config, InvalidInputError (exit 2)
    and nothing stored."""
    return store_policy(settings, check_policy_file(file), file.name)
