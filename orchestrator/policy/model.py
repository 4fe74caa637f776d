"""What a policy is and what it reports: plain data shared by the policy pack and ``trainctl check``.

A policy is a :class:`PolicyDef`: a name, a default enforcement level, a JSON schema for its
config, and plain functions over :class:`Resource` (type, name, props) that yield :class:`Finding`
objects. The pack in ``policies/`` wraps those functions for the engine; ``check_plan`` calls the
very same functions over an offline plan. Nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("advisory", "mandatory", "disabled")
# Pulumi's marker for a value that is not known yet (preview, mock runtime); offline plans use the same.
COMPUTED = "<computed>"
FIX_PREFIX = "fix: "

Props = Mapping[str, Any]


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it: its inputs (``props``, wire names) and, when known, its explicit provider."""

    type: str
    name: str
    props: Props
    urn: str = ""
    provider: Props | None = None  # the explicit provider's inputs (e.g. defaultTags), if any
    deps: Mapping[str, Sequence[str]] = field(default_factory=dict)  # property -> URNs it depends on


@dataclass(frozen=True)
class Finding:
    """One thing a policy objects to: what is wrong and how to fix it (``resource``: for stack-wide checks)."""

    message: str
    fix: str
    resource: Resource | None = None

    def report_text(self) -> str:
        """The text handed to the engine: the message, then the fix on its own line."""
        return f"{self.message}\n{FIX_PREFIX}{self.fix}"


ResourceCheck = Callable[[Resource, Props], Iterable[Finding]]
StackCheck = Callable[[Sequence[Resource], Props], Iterable[Finding]]


@dataclass(frozen=True)
class PolicyDef:
    """A policy: plain functions plus what the engine needs to know about them.

    ``config`` is the JSON schema of each config property (Pulumi's ``PolicyConfigSchema.properties``).
    ``check`` runs once per resource, before the engine creates it; ``check_stack`` runs over every
    resource at once (the engine runs it at the end of a preview or an update).
    """

    name: str
    description: str
    enforcement: str
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    check: ResourceCheck | None = None
    check_stack: StackCheck | None = None
    remediation: str = ""


@dataclass(frozen=True)
class Violation:
    """One policy violation as trainctl reports it (engine or offline)."""

    policy: str
    enforcement: str
    resource: str  # the resource's logical name; "" for the stack as a whole
    message: str
    fix: str = ""
    resource_type: str = ""
    urn: str = ""

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form (``--output json``)."""
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "resource": self.resource,
            "resource_type": self.resource_type,
            "message": self.message,
            "fix": self.fix,
        }

    def line(self) -> str:
        """One line for people: ``policy [level] resource: message (fix: ...)``."""
        where = self.resource or "stack"
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{self.policy} [{self.enforcement}] {where}: {self.message}{fix}"


def urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN ``urn:pulumi:stack::project::[parent$]type::name``; ("", "") when not a URN."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", ""
    return parts[2].rsplit("$", 1)[-1], "::".join(parts[3:])


def resolve_entry(entry: Props, team: str | None, owner: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """(enforcement level, config properties) of one policy for ``team``.

    ``entry`` is the policy's config as the engine holds it: ``enforcementLevel``, the properties and
    optionally ``teams`` (team -> a level, or an object of properties and ``enforcementLevel``); a
    team's override wins over the policy-wide value, property by property. An override that lists
    ``members`` applies only when ``owner`` (the job's owner) is one of them.
    """
    from orchestrator.policy.membership import MEMBERS, owner_is_member

    props = {k: v for k, v in entry.items() if k not in ("enforcementLevel", "teams")}
    level = entry.get("enforcementLevel")
    teams = entry.get("teams")
    override = teams.get(team) if team and isinstance(teams, Mapping) else None
    if isinstance(override, Mapping) and MEMBERS in override and not owner_is_member(owner, override[MEMBERS]):
        override = None
    if isinstance(override, str):
        level = override
    elif isinstance(override, Mapping):
        level = override.get("enforcementLevel", level)
        props.update({k: v for k, v in override.items() if k not in ("enforcementLevel", MEMBERS)})
    return (str(level) if level is not None else None), props
