"""Tighter or looser: what a member's local policy config may change in the team's published policy.

A local ``--policy-config`` over a published team policy may tighten a rule, never loosen one. Rules
are compared as they apply (resolved for every team either config names, and for everyone else):

| rule | tighter means |
| --- | --- |
| ``enforcementLevel`` | the same or stricter: disabled < advisory < mandatory |
| ``allowed`` (instance types, regions) | a subset: each local pattern lies inside a published one |
| ``maxUsd``, ``maxSweepUsd``, ``maxNodes`` (caps) | lower or equal |
| ``tags``, ``targets``, ``gpuInstanceTypes`` | a superset: more required tags, more targets, more GPU types |
| ``values`` (required tag values) | every published key kept, each with a subset of its patterns |
| a team's ``members`` | unchanged (who a team's rules apply to is the team's decision) |

A property this table does not know may not change at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from orchestrator.policy.membership import MEMBERS, TEAMS
from orchestrator.policy.model import LEVELS, PolicyDef

# Index in LEVELS order from the most lenient: ("advisory", "mandatory", "disabled") is not an order.
_RANK = {"disabled": 0, "advisory": 1, "mandatory": 2}
assert set(_RANK) == set(LEVELS)

Compare = Callable[[Any, Any], str | None]  # (published, local) -> why local is looser, or None


Resolve = Callable[[Mapping[str, Any], str, str | None], tuple[str, dict[str, Any]]]


def loosenings(
    published: Mapping[str, Any], local: Mapping[str, Any], policies: Sequence[PolicyDef], resolve: Resolve
) -> list[str]:
    """Every rule of ``local`` (an effective config) looser than in ``published``, each naming the rule;
    ``resolve`` gives a policy's (level, properties) for a team (orchestrator.policy.config.resolve)."""
    found: list[str] = []
    teams = sorted({*(published.get(TEAMS) or {}), *(local.get(TEAMS) or {})})
    for team in [None, *teams]:
        prefix = "" if team is None else f"{TEAMS}.{team}."
        for policy in policies:
            level_p, props_p = resolve(published, policy.name, team)
            level_l, props_l = resolve(local, policy.name, team)
            if _RANK[level_l] < _RANK[level_p]:
                found.append(
                    f"{prefix}{policy.name}.enforcementLevel: {level_l} is more lenient than the team policy's {level_p}"
                )
            for key in sorted({*props_p, *props_l}):
                why = RULES.get(key, _unchanged)(props_p.get(key), props_l.get(key))
                if why is not None:
                    found.append(f"{prefix}{policy.name}.{key}: {why}")
        if team is not None:
            found += _members_kept(published, local, team)
    return found


def _members_kept(published: Mapping[str, Any], local: Mapping[str, Any], team: str) -> list[str]:
    before = (published.get(TEAMS) or {}).get(team)
    after = (local.get(TEAMS) or {}).get(team) or {}
    if before is None or before.get(MEMBERS) == after.get(MEMBERS):
        return []
    return [f"{TEAMS}.{team}.{MEMBERS}: a local config cannot change who the team policy's rules for {team} apply to"]


def _at_most(published: Any, local: Any) -> str | None:
    if published is None or (local is not None and local <= published):
        return None
    return f"{'no cap' if local is None else local} is above the team policy's {published}"


def _inside(published: Any, local: Any) -> str | None:
    """Every local glob lies inside a published one (``g5.xlarge`` inside ``g5.*``; ``g*`` is not)."""
    allowed = list(published or ["*"])
    wider = [p for p in (local if local is not None else ["*"]) if not any(fnmatchcase(str(p), str(q)) for q in allowed)]
    return f"allows {', '.join(map(str, wider))} beyond the team policy's {', '.join(map(str, allowed))}" if wider else None


def _superset(published: Any, local: Any) -> str | None:
    dropped = [item for item in published or [] if item not in (local or [])]
    return f"drops {', '.join(map(str, dropped))} that the team policy requires" if dropped else None


def _values(published: Any, local: Any) -> str | None:
    for key, patterns in (published or {}).items():
        if key not in (local or {}):
            return f"drops the team policy's allowed values of {key}"
        why = _inside(patterns, local[key])
        if why is not None:
            return f"{key} {why}"
    return None


def _unchanged(published: Any, local: Any) -> str | None:
    return None if published == local else f"changes a setting the team policy fixes ({published!r} -> {local!r})"


RULES: dict[str, Compare] = {
    "allowed": _inside,
    "maxUsd": _at_most,
    "maxSweepUsd": _at_most,
    "maxNodes": _at_most,
    "tags": _superset,
    "targets": _superset,
    "gpuInstanceTypes": _superset,
    "values": _values,
}
