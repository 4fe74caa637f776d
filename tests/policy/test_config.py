"""Policy config: shipped defaults, a team's file over them, errors naming the key, the engine's copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.errors import ExitCode, InvalidInputError, PrerequisiteMissingError
from orchestrator.policy.config import engine_config, engine_policy_args, load_config, resolve
from orchestrator.policy.pack import load_policies, pack_path

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, document: object, name: str = "team.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_defaults_give_every_policy_its_documented_level_and_caps() -> None:
    """The shipped defaults: 40 USD/hour, 500 USD/job, max_runtime on aws, spot advice advisory, the rest mandatory."""
    config = load_config()
    assert {p.name for p in load_policies()} <= set(config)
    assert resolve(config, "max-hourly-cost", None) == ("mandatory", {"maxUsd": 40})
    assert resolve(config, "max-job-cost", None) == ("mandatory", {"maxUsd": 500, "maxSweepUsd": 2000})
    assert resolve(config, "require-max-runtime", None) == ("mandatory", {"targets": ["aws"]})
    levels = {name: resolve(config, name, None)[0] for name in config}
    assert levels.pop("spot-preferred") == "advisory" and set(levels.values()) == {"mandatory"}


def test_team_file_overrides_levels_properties_and_teams(tmp_path: Path) -> None:
    """A team file sets a level alone, a property, and one team's cap; others keep the defaults."""
    file = _write(
        tmp_path,
        {"spot-preferred": "mandatory", "max-job-cost": {"maxUsd": 100}, "teams": {"llm": {"max-hourly-cost": {"maxUsd": 120}}}},
    )
    config = load_config(file)
    assert resolve(config, "spot-preferred", "vision")[0] == "mandatory"
    assert resolve(config, "max-job-cost", "vision") == ("mandatory", {"maxUsd": 100, "maxSweepUsd": 2000})
    assert resolve(config, "max-hourly-cost", "llm") == ("mandatory", {"maxUsd": 120})
    assert resolve(config, "max-hourly-cost", "vision") == ("mandatory", {"maxUsd": 40})


def test_all_sets_every_level_before_the_files_own_entries(tmp_path: Path) -> None:
    """'all': advisory downgrades every policy, except those the same file names."""
    config = load_config(_write(tmp_path, {"all": "advisory", "required-tags": "mandatory"}))
    assert resolve(config, "required-tags", None)[0] == "mandatory"
    assert resolve(config, "max-hourly-cost", None)[0] == "advisory"


def test_yaml_team_file_is_read_by_its_suffix(tmp_path: Path) -> None:
    """A .yaml policy config works the same as JSON."""
    file = tmp_path / "team.yaml"
    file.write_text("teams:\n  vision:\n    spot-preferred: disabled\n")
    assert resolve(load_config(file), "spot-preferred", "vision")[0] == "disabled"


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"max-hourly-costs": {"maxUsd": 1}}, "max-hourly-costs: unknown policy"),
        ({"max-hourly-cost": {"maxUSD": 1}}, "max-hourly-cost.maxUSD: unknown key (known: enforcementLevel, maxUsd)"),
        ({"max-hourly-cost": {"maxUsd": "forty"}}, "max-hourly-cost.maxUsd: must be a number, got string 'forty'"),
        ({"max-hourly-cost": {"maxUsd": -1}}, "max-hourly-cost.maxUsd: must be at least 0"),
        ({"spot-preferred": "remediate"}, "spot-preferred: must be one of advisory, mandatory, disabled"),
        ({"all": "strict"}, "all: must be one of advisory, mandatory, disabled"),
        ({"allowed-regions": {"allowed": "us-east-1"}}, "allowed-regions.allowed: must be an array"),
        ({"teams": {"llm": {"nope": "advisory"}}}, "teams.llm.nope: unknown policy"),
        (
            {"teams": {"llm": {"required-tags": {"values": {"trainctl:owner": []}}}}},
            "teams.llm.required-tags.values.trainctl:owner",
        ),
        (["not", "an", "object"], "must be an object"),
    ],
)
def test_bad_config_is_invalid_input_naming_the_key(tmp_path: Path, document: object, named: str) -> None:
    """Each mistake is an InvalidInputError (exit 2) whose message names the file and the key."""
    file = _write(tmp_path, document)
    with pytest.raises(InvalidInputError) as caught:
        load_config(file)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert str(file) in caught.value.message and named in caught.value.message


def test_unreadable_or_unparsable_config_is_invalid_input(tmp_path: Path) -> None:
    """A missing file and broken JSON are exit-2 errors naming the file."""
    with pytest.raises(InvalidInputError, match="cannot read policy config"):
        load_config(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InvalidInputError, match="cannot be parsed"):
        load_config(broken)


def test_engine_config_is_resolved_for_the_team_or_carries_team_overrides(tmp_path: Path) -> None:
    """With a team the engine gets that team's levels and values; without, each policy carries its 'teams'."""
    config = load_config(
        _write(tmp_path, {"teams": {"llm": {"max-hourly-cost": {"maxUsd": 120, "enforcementLevel": "advisory"}}}})
    )
    policies = load_policies()
    assert engine_config(config, policies, "llm")["max-hourly-cost"] == {"enforcementLevel": "advisory", "maxUsd": 120}
    assert engine_config(config, policies, "vision")["max-hourly-cost"] == {"enforcementLevel": "mandatory", "maxUsd": 40}
    carried = engine_config(config, policies)["max-hourly-cost"]
    assert carried["teams"] == {"llm": {"maxUsd": 120, "enforcementLevel": "advisory"}}


def test_engine_policy_args_give_the_launcher_and_a_config_file(trainctl_home: Path) -> None:
    """engine_policy_args: [launcher], [a JSON file under TRAINCTL_HOME/policy]; the same config reuses the file."""
    packs, configs = engine_policy_args(None, team="vision")
    assert packs == [str(REPO / "policies" / "trainctl-policy-pack")]
    [config_file] = configs
    assert Path(config_file).parent == trainctl_home / "policy"
    written = json.loads(Path(config_file).read_text())
    assert written["max-hourly-cost"] == {"enforcementLevel": "mandatory", "maxUsd": 40}
    assert engine_policy_args(None, team="vision")[1] == configs


def test_pack_path_honours_the_override_as_directory_or_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRAINCTL_POLICY_PACK may name the pack directory or its launcher; a missing or non-executable one is exit 2."""
    launcher = REPO / "policies" / "trainctl-policy-pack"
    assert pack_path() == launcher and os.access(launcher, os.X_OK)
    monkeypatch.setenv("TRAINCTL_POLICY_PACK", str(REPO / "policies"))
    assert pack_path() == launcher
    monkeypatch.setenv("TRAINCTL_POLICY_PACK", str(launcher))
    assert pack_path() == launcher
    monkeypatch.setenv("TRAINCTL_POLICY_PACK", str(tmp_path))
    with pytest.raises(PrerequisiteMissingError, match="launcher not found") as caught:
        pack_path()
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    (tmp_path / "trainctl-policy-pack").write_text("#!/bin/sh\n")
    with pytest.raises(PrerequisiteMissingError, match="not executable"):
        pack_path()
