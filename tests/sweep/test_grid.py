"""The sweep's grid: every point a validated spec, problems naming their --param, a stable sweep id."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InvalidInputError, SpecError
from orchestrator.spec.loader import load_spec
from orchestrator.sweep.grid import MAX_POINTS, build_grid, parse_param
from tests.sweep.conftest import SPEC


def test_grid_is_the_product_in_option_order(spec: Path) -> None:
    """Two params of two values give four points, the first --param varying slowest, each with its env set."""
    grid = build_grid(load_spec(spec), ["env.LR=0.1,0.01", "env.BATCH=32,64"])
    assert [p.params for p in grid.points] == [
        {"env.LR": "0.1", "env.BATCH": "32"},
        {"env.LR": "0.1", "env.BATCH": "64"},
        {"env.LR": "0.01", "env.BATCH": "32"},
        {"env.LR": "0.01", "env.BATCH": "64"},
    ]
    assert [dict(p.loaded.spec.env) for p in grid.points][3] == {"LR": "0.01", "BATCH": "64"}
    assert all(p.loaded.spec.name == "sweep-cli" for p in grid.points)


def test_values_are_read_as_in_a_spec_file(spec: Path) -> None:
    """resources.spot=true is a bool, disk_gb=100 and nodes=2 ints, max_runtime=2h a duration; env values stay strings."""
    grid = build_grid(
        load_spec(spec),
        ["resources.spot=true", "resources.disk_gb=100", "resources.nodes=2", "limits.max_runtime=2h", "env.SEED=007"],
    )
    [point] = grid.points
    spec_of_point = point.loaded.spec
    assert spec_of_point.resources.spot is True
    assert spec_of_point.resources.disk_gb == 100
    assert spec_of_point.resources.nodes == 2
    assert spec_of_point.limits.max_runtime == 7200
    assert spec_of_point.env["SEED"] == "007"
    assert any("resources.spot" in n or "resources.disk_gb" in n for n in point.loaded.notices)  # local: cloud fields ignored


def test_a_bad_value_is_named_by_its_param(spec: Path) -> None:
    """Every invalid point value is reported once, naming the --param and the field, before anything runs."""
    with pytest.raises(SpecError) as raised:
        build_grid(load_spec(spec), ["resources.disk_gb=4,60", "limits.max_runtime=2x,1h", "env.LR=1,2"])
    details = raised.value.details
    assert len(details) == 2, details
    assert any(d.startswith("--param resources.disk_gb=4: resources.disk_gb:") for d in details)
    assert any(d.startswith("--param limits.max_runtime=2x: limits.max_runtime:") for d in details)


def test_a_document_rule_names_the_param(spec: Path) -> None:
    """A reserved env name fails the env rule, and the problem names the --param that set it."""
    with pytest.raises(SpecError) as raised:
        build_grid(load_spec(spec), ["env.TRAINCTL_X=1"])
    assert raised.value.details[0].startswith("--param env.TRAINCTL_X=1: env:")


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("name=a,b", "name cannot be swept"),
        ("team=x", "team cannot be swept"),
        ("resources.instance_typ=g5.xlarge", "cannot be swept"),
        ("env.LR", "expected PATH=V1,V2"),
        ("env.LR=0.1,,0.2", "empty value"),
        ("env.LR=0.1,0.1", "appears twice"),
        ("env.=1", "cannot be swept"),
    ],
)
def test_bad_options_exit_2_naming_them(option: str, says: str) -> None:
    """A malformed or unsweepable --param is invalid input (exit 2) that quotes it."""
    with pytest.raises(InvalidInputError) as raised:
        parse_param(option)
    assert raised.value.exit_code == 2
    assert says in raised.value.message and option in raised.value.message


def test_a_param_given_twice_or_a_huge_grid_is_refused(spec: Path) -> None:
    """The same path in two --param options, or more than MAX_POINTS points, is refused."""
    with pytest.raises(InvalidInputError, match="more than once"):
        build_grid(load_spec(spec), ["env.LR=1", "env.LR=2"])
    many = ",".join(str(i) for i in range(MAX_POINTS + 1))
    with pytest.raises(InvalidInputError, match="points"):
        build_grid(load_spec(spec), [f"env.LR={many}"])


def test_sweep_id_is_stable_and_depends_on_spec_and_params(spec: Path, tmp_path: Path) -> None:
    """The same spec and params give the same id (so a rerun resumes); other values or another spec do not."""
    first = build_grid(load_spec(spec), ["env.LR=0.1,0.01"]).sweep_id
    assert first.startswith("sweep-cli-sweep-")
    assert build_grid(load_spec(spec), ["env.LR=0.1,0.01"]).sweep_id == first
    assert build_grid(load_spec(spec), ["env.LR=0.1,0.001"]).sweep_id != first
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("1h", "2h"))
    assert build_grid(load_spec(other), ["env.LR=0.1,0.01"]).sweep_id != first
    reformatted = tmp_path / "reformatted.yaml"
    reformatted.write_text("# same job\n" + SPEC.replace('"0.1"', "'0.1'"))
    assert build_grid(load_spec(reformatted), ["env.LR=0.1,0.01"]).sweep_id == first


def test_point_key_ignores_order() -> None:
    """A point is identified by its values, whatever the order of the params."""
    from orchestrator.sweep.grid import point_key

    assert point_key({"a": "1", "b": "2"}) == point_key({"b": "2", "a": "1"})


def test_the_example_sweep_builds_from_its_documented_command() -> None:
    """examples/sweep/job.yaml and the --param line its header documents give six valid points."""
    import shlex

    example = Path(__file__).resolve().parents[2] / "examples" / "sweep" / "job.yaml"
    command = next(line for line in example.read_text().splitlines() if "trainctl sweep" in line)
    argv = shlex.split(command.lstrip("# "))
    params = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--param"]
    grid = build_grid(load_spec(example), params)
    assert len(grid.points) == 6
    assert "--objective" in argv and argv[argv.index("--objective") + 1] == "loss:min"
    assert all(p.loaded.workdir.name == "quickstart" and (p.loaded.workdir / "train.py").is_file() for p in grid.points)
