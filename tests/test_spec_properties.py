"""Property-based: valid specs round-trip through normalize; corrupted specs never crash the loader."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.cli.main import run
from orchestrator.errors import SpecError
from orchestrator.spec.durations import format_duration, parse_duration
from orchestrator.spec.loader import parse_spec

names = st.from_regex(r"[a-z0-9-]{3,40}", fullmatch=True)
words = st.from_regex(r"[a-z][a-z0-9.@-]{0,20}", fullmatch=True)
durations = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 500), st.sampled_from("smhd"))
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True).filter(lambda s: not s.startswith("TRAINCTL_"))


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    target = draw(st.sampled_from(["local", "aws"]))
    spec: dict[str, Any] = {"name": draw(names), "team": draw(words), "owner": draw(words), "code": {"run": "python train.py"}}
    spec["target"] = target
    resources: dict[str, Any] = {}
    if target == "aws" or draw(st.booleans()):
        resources["instance_type"] = draw(st.sampled_from(["g5.xlarge", "p4d.24xlarge", "t3.micro", "g4dn.12xlarge"]))
    if draw(st.booleans()):
        resources["spot"] = draw(st.booleans())
        resources["disk_gb"] = draw(st.integers(8, 16384))
    if resources:
        spec["resources"] = resources
    if draw(st.booleans()):
        spec["limits"] = {"max_runtime": draw(durations), "max_cost_usd": draw(st.floats(0.01, 1e5))}
    if draw(st.booleans()):
        spec["checkpoints"] = {"sync_interval": draw(durations), "keep_last": draw(st.integers(1, 50))}
    if draw(st.booleans()):
        spec["env"] = draw(st.dictionaries(env_names, st.text(max_size=10), max_size=3))
    if draw(st.booleans()):
        spec["restarts"] = {"max_preemptions": draw(st.integers(0, 100)), "max_failures": draw(st.integers(0, 100))}
    return spec


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_valid_specs_round_trip_through_normalize(doc: dict[str, Any]) -> None:
    """normalize(parse(normalize(x))) == normalize(x) for any valid spec."""
    first = parse_spec(yaml.safe_dump(doc)).to_document()
    second = parse_spec(yaml.safe_dump(first)).to_document()
    assert first == second


@given(st.integers(1, 10**6))
def test_durations_round_trip(seconds: int) -> None:
    """format_duration is exact: parsing its output gives the same number of seconds."""
    assert parse_duration(format_duration(seconds)) == seconds


def _corrupt(doc: Any, data: st.DataObject) -> Any:
    junk = st.one_of(
        st.none(), st.integers(), st.floats(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.booleans()
    )
    if isinstance(doc, dict) and doc:
        key = data.draw(st.sampled_from(sorted(doc)))
        action = data.draw(st.sampled_from(["replace", "delete", "recurse", "add"]))
        copy = dict(doc)
        if action == "replace":
            copy[key] = data.draw(junk)
        elif action == "delete":
            del copy[key]
        elif action == "add":
            copy[data.draw(st.text(min_size=1, max_size=8))] = data.draw(junk)
        else:
            copy[key] = _corrupt(doc[key], data)
        return copy
    return data.draw(junk)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(), st.data())
def test_corrupted_specs_never_crash_the_loader(doc: dict[str, Any], data: st.DataObject) -> None:
    """Any corruption of a valid spec either still validates or raises SpecError: never another exception."""
    bad = _corrupt(doc, data)
    try:
        parse_spec(yaml.safe_dump(bad))
    except SpecError as e:
        assert e.exit_code == 2
        assert e.details or e.message


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_random_text_exits_2_or_0_never_traceback(tmp_path_factory, capsys, text: str) -> None:  # type: ignore[no-untyped-def]
    """Arbitrary file contents make `validate` exit 0 or 2, never 1 (a crash)."""
    path = tmp_path_factory.mktemp("fuzz") / "job.yaml"
    path.write_text(text)
    code = run(["validate", str(path)])
    _, err = capsys.readouterr()
    assert code in (0, 2), err
    assert "Traceback" not in err
