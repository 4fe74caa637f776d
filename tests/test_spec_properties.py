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
from tests.spec_strategies import corrupt, valid_specs


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


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(), st.data())
def test_corrupted_specs_never_crash_the_loader(doc: dict[str, Any], data: st.DataObject) -> None:
    """Any corruption of a valid spec either still validates or raises SpecError: never another exception."""
    bad = corrupt(doc, data)
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
