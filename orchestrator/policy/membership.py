"""Who a team's policy rules apply to: the members the policy config names for it.

A team whose entry lists ``members`` (owner emails and AWS principal ARNs; ``*`` globs allowed) has
its rules applied only when the spec's owner is a member and, where the caller's AWS identity is
checked (``plan`` and ``up`` of an AWS job), that identity is a member too. Otherwise the team's
entry is dropped and the defaults apply, with a notice saying why. A team without ``members`` applies
to whoever names it in a spec.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

MEMBERS = "members"
TEAMS = "teams"


@dataclass(frozen=True)
class TeamRules:
    """The effective config for one job's team, and why the team's own rules were left out (if they were)."""

    config: dict[str, Any]
    notice: str | None = None


def team_rules(
    config: Mapping[str, Any], team: str, *, owner: str, caller: str | None = None, check_caller: bool = False
) -> TeamRules:
    """``config`` as it applies to a job of ``team`` owned by ``owner`` and run by ``caller`` (an ARN).

    ``check_caller``: the caller's AWS identity must be a member too (None: it could not be read).
    """
    entry = (config.get(TEAMS) or {}).get(team) or {}
    members = entry.get(MEMBERS)
    if members is None:
        return TeamRules(dict(config))
    why = None
    if not owner_is_member(owner, members):
        why = f"owner {owner} is not one of its members"
    elif check_caller and caller is None:
        why = "the AWS identity running trainctl could not be read"
    elif check_caller and caller is not None and not any(_matches(p, m) for p in principals(caller) for m in members):
        why = f"the AWS identity {caller} is not one of its members"
    if why is None:
        return TeamRules(dict(config))
    kept = copy.deepcopy(dict(config))
    kept[TEAMS] = {name: rules for name, rules in kept[TEAMS].items() if name != team}
    notice = f"team {team}'s policy rules do not apply: {why} (teams.{team}.members in the policy config); the defaults apply"
    return TeamRules(kept, notice)


def principals(arn: str) -> list[str]:
    """The ARNs a caller answers to: itself, and for an assumed role session the role's IAM ARN."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return [arn, f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"]
    return [arn]


def owner_is_member(owner: str | None, members: Sequence[str]) -> bool:
    """Whether ``owner`` (an email) matches one of ``members``' emails or email globs."""
    return owner is not None and any(_matches(owner, m) for m in members if not m.startswith("arn:"))


def members_problems(value: Any, where: str) -> list[str]:
    """What is wrong with a ``members`` list (empty: nothing)."""
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        return [f"{where}: must be a list of owner emails and AWS principal ARNs"]
    return []


def _matches(principal: str, pattern: str) -> bool:
    if pattern.startswith("arn:"):
        return fnmatchcase(principal, pattern)
    return fnmatchcase(principal.casefold(), pattern.casefold())  # emails: case does not matter


def without_members(entries: Mapping[str, Any]) -> Sequence[tuple[str, Any]]:
    """A team's policy entries, its ``members`` left out."""
    return [(name, entry) for name, entry in entries.items() if name != MEMBERS]
