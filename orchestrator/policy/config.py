"""Policy config: the defaults that ship with the pack, a team's file over them, and the engine's copy.

A config file (JSON, or YAML by its suffix) has Pulumi's policy-config shape plus per-team overrides::

    {
      "all": "advisory",                                   # optional: every policy's level
      "max-hourly-cost": {"enforcementLevel": "mandatory", "maxUsd": 40},
      "spot-preferred": "advisory",                        # a level alone
      "teams": {"llm": {"members": ["ana@example.com", "arn:aws:iam::123456789012:role/llm-*"],
                        "max-hourly-cost": {"maxUsd": 120}, "spot-preferred": "disabled"}}
    }

A team's ``members`` (optional) limit its rules to those people and AWS identities (policy/membership.py).

``load_config`` returns the effective config in that same shape, every policy present. The engine is
given the config for the job's team already resolved (``engine_policy_args(..., team=)``); without a
team, each policy's team overrides travel in its ``teams`` property and the pack resolves them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InvalidInputError
from orchestrator.policy.membership import MEMBERS, TeamRules, members_problems, team_rules, without_members
from orchestrator.policy.model import LEVELS, PolicyDef, resolve_entry
from orchestrator.policy.pack import defaults_path, load_policies, pack_path
from orchestrator.policy.schema import problems

if TYPE_CHECKING:
    from orchestrator.policy.team import Published

ALL, TEAMS, LEVEL = "all", "teams", "enforcementLevel"
LEVEL_SCHEMA: dict[str, Any] = {"type": "string", "enum": list(LEVELS)}
_HINT = "see docs/policies.md for every policy's settings"

Config = dict[str, Any]


def load_config(file: Path | None = None, *, policies: Sequence[PolicyDef] | None = None) -> Config:
    """The pack's defaults, the team policy published in the backend over them, and ``file`` (a local
    config) last; InvalidInputError (exit 2) naming any bad key, or any rule ``file`` would loosen."""
    policies = load_policies() if policies is None else policies
    config = load_defaults(policies)
    published = _published()
    if published is not None:
        config = merge(config, published.config, policies, origin=published.origin())
    if file is None:
        return config
    local = merge(config, read_config_file(file), policies, origin=str(file))
    if published is not None:
        from orchestrator.policy.tighten import loosenings

        loosened = loosenings(config, local, policies, resolve)
        if loosened:
            raise InvalidInputError(
                f"policy config {file} loosens {published.origin()}: {loosened[0]}",
                details=loosened,
                hint="a local --policy-config may only tighten the team policy (`trainctl policy show` prints it)",
            )
    return local


def load_defaults(policies: Sequence[PolicyDef]) -> Config:
    """The pack's own config: every policy at its level, with the settings of defaults.json."""
    config: Config = {p.name: {LEVEL: p.enforcement} for p in policies}
    defaults = defaults_path()
    if defaults.is_file():
        config = merge(config, read_config_file(defaults), policies, origin=str(defaults))
    return config


def _published() -> Published | None:
    """The team policy of the backend in force, if one was published."""
    from orchestrator.policy.team import published_policy
    from orchestrator.settings import get_settings

    return published_policy(get_settings())


def read_config_file(file: Path) -> Any:
    """The document in ``file``: YAML for ``.yaml``/``.yml``, JSON otherwise."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidInputError(f"cannot read policy config {file}: {e.strerror}", hint="check the --policy-config path") from e
    try:
        if file.suffix in (".yaml", ".yml"):
            from orchestrator.spec.yamlguard import safe_load

            return safe_load(text, f"policy config {file}")
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # json.JSONDecodeError is a ValueError; deep nesting recurses
        raise InvalidInputError(f"policy config {file} cannot be parsed: {e}", hint=_HINT) from e


def merge(config: Config, overlay: Any, policies: Sequence[PolicyDef], *, origin: str) -> Config:
    """``overlay`` (a config document) applied over ``config``, after checking every key of it."""
    found = config_problems(overlay, policies)
    if found:
        raise InvalidInputError(f"policy config {origin}: {found[0]}", details=found, hint=_HINT)
    result = copy.deepcopy(config)
    if ALL in overlay:
        for policy in policies:
            result[policy.name][LEVEL] = overlay[ALL]
    for name, entry in overlay.items():
        if name not in (ALL, TEAMS):
            result[name].update(_as_object(entry))
    for team, entries in (overlay.get(TEAMS) or {}).items():
        rules = result.setdefault(TEAMS, {}).setdefault(team, {})
        if MEMBERS in entries:
            rules[MEMBERS] = list(entries[MEMBERS])  # a later file's list replaces an earlier one
        for name, entry in without_members(entries):
            rules.setdefault(name, {}).update(_as_object(entry))
    return result


def config_problems(document: Any, policies: Sequence[PolicyDef]) -> list[str]:
    """Every problem of a config document, each naming its key."""
    if not isinstance(document, dict):
        return ["must be an object whose keys are policy names, 'all' or 'teams'"]
    by_name = {p.name: p for p in policies}
    found: list[str] = []
    for key, value in document.items():
        if key == ALL:
            found += problems(value, LEVEL_SCHEMA, ALL)
        elif key == TEAMS:
            found += _team_problems(value, by_name)
        elif key in by_name:
            found += _entry_problems(value, by_name[key], key)
        else:
            found.append(f"{key}: unknown policy (policies: {', '.join(by_name)})")
    return found


def entry_schema(policy: PolicyDef) -> dict[str, Any]:
    """The JSON schema of one policy's entry: its properties and ``enforcementLevel``."""
    return {"type": "object", "properties": {LEVEL: LEVEL_SCHEMA, **policy.config}, "additionalProperties": False}


def resolve(config: Mapping[str, Any], policy: str, team: str | None) -> tuple[str, dict[str, Any]]:
    """(level, properties) of ``policy`` for ``team`` in an effective config."""
    level, props = resolve_entry(_engine_entry(config, policy), team)
    return level or "advisory", props


def engine_config(config: Mapping[str, Any], policies: Sequence[PolicyDef], team: str | None = None) -> dict[str, Any]:
    """The config in the form ``--policy-pack-config`` takes: resolved for ``team``, or carrying ``teams``."""
    out: dict[str, Any] = {}
    for policy in policies:
        if team is None:  # the pack resolves each job's team, and checks its owner against the members
            out[policy.name] = _engine_entry(config, policy.name, with_members=True)
            continue
        level, props = resolve(config, policy.name, team)
        out[policy.name] = {LEVEL: level, **props}
    return out


def engine_policy_args(
    config_file: Path | None = None, *, team: str | None = None, owner: str | None = None, target: str | None = None
) -> tuple[list[str], list[str]]:
    """(policy packs, policy config files) for ``preview``/``up``: the launcher, and the effective config.

    Pass the job's ``team`` so that per-team enforcement levels apply in the engine too (without it,
    only per-team properties do: the engine fixes a policy's level before the pack sees a resource).
    With the job's ``owner`` (and ``target``), a team that lists its members applies only to them
    (on AWS, the caller's identity must be a member too); otherwise the defaults apply, with a notice.
    """
    launcher = pack_path()
    policies = load_policies()
    config = load_config(config_file, policies=policies)
    if team is not None and owner is not None:
        config = rules_for_job(config, team, owner=owner, check_caller=target == "aws").config
    document = engine_config(config, policies, team)
    return [str(launcher)], [str(write_engine_config(document))]


def rules_for_job(config: Config, team: str, *, owner: str, check_caller: bool = False, log: bool = True) -> TeamRules:
    """``config`` for a job of ``team`` by ``owner`` (see policy/membership.py), and why the team's rules
    were left out, if they were (logged as a warning unless ``log`` is off: the caller shows it).
    ``check_caller``: the caller's AWS identity (STS) must be a member too.
    """
    caller = _caller_arn() if check_caller else None
    rules = team_rules(config, team, owner=owner, caller=caller, check_caller=check_caller)
    if rules.notice and log:
        from orchestrator.logs import get_logger

        get_logger(__name__).warning("policy.team_rules_skipped", team=team, detail=rules.notice)
    return rules


def _caller_arn() -> str | None:
    """The ARN of the AWS identity in use, or None when it cannot be read (no credentials, no access)."""
    from orchestrator.cloud import aws
    from orchestrator.errors import TrainctlError
    from orchestrator.settings import get_settings

    try:
        return aws.caller_arn(get_settings().default_region)
    except TrainctlError:
        return None


def write_engine_config(document: Mapping[str, Any]) -> Path:
    """Write ``document`` under ``$TRAINCTL_HOME/policy``, named by its content (so reruns reuse it)."""
    from orchestrator.settings import get_settings

    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    directory = get_settings().home / "policy"
    path = directory / f"config-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _engine_entry(config: Mapping[str, Any], policy: str, *, with_members: bool = False) -> dict[str, Any]:
    entry = dict(config.get(policy) or {})
    teams = {}
    for team, entries in (config.get(TEAMS) or {}).items():
        if policy in entries:
            members = entries.get(MEMBERS) if with_members else None
            teams[team] = entries[policy] if members is None else {**_as_object(entries[policy]), MEMBERS: members}
    if teams:
        entry[TEAMS] = teams
    return entry


def _team_problems(value: Any, by_name: Mapping[str, PolicyDef]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{TEAMS}: must be an object mapping team names to policy config"]
    found: list[str] = []
    for team, entries in value.items():
        if not isinstance(entries, dict):
            found.append(f"{TEAMS}.{team}: must be an object mapping policy names to config")
            continue
        if MEMBERS in entries:
            found += members_problems(entries[MEMBERS], f"{TEAMS}.{team}.{MEMBERS}")
        for name, entry in without_members(entries):
            where = f"{TEAMS}.{team}.{name}"
            if name not in by_name:
                found.append(f"{where}: unknown policy (policies: {', '.join(by_name)})")
            else:
                found += _entry_problems(entry, by_name[name], where)
    return found


def _entry_problems(value: Any, policy: PolicyDef, where: str) -> list[str]:
    if isinstance(value, str):
        return problems(value, LEVEL_SCHEMA, where)
    if not isinstance(value, dict):
        return [f"{where}: must be an enforcement level ({', '.join(LEVELS)}) or an object"]
    return problems(value, entry_schema(policy), where)


def _as_object(entry: str | Mapping[str, Any]) -> dict[str, Any]:
    return {LEVEL: entry} if isinstance(entry, str) else dict(entry)
