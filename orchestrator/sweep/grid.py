"""A sweep's grid: the `--param PATH=V1,V2` options of `trainctl sweep` become points, one spec each.

Every point is the spec file with the point's values set, validated as `trainctl validate` validates a
file; a value is read as it would be written in the spec (``true``, ``64``, ``2h``), except under
``env.`` where values stay strings. A problem names the ``--param`` it comes from (exit 2).

The sweep's id is derived from the spec (normalized) and the options, so running the same sweep again
finds its jobs and resumes it: ``<name>-sweep-<8 hex>``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import InvalidInputError, SpecError
from orchestrator.spec import rules
from orchestrator.spec.loader import LoadedSpec

# The spec fields a sweep may vary, besides any ``env.NAME``: what changes a run, not who or what it is.
SWEEPABLE = (
    "code.run",
    "code.setup",
    "resources.instance_type",
    "resources.spot",
    "resources.on_demand_fallback",
    "resources.disk_gb",
    "resources.nodes",
    "resources.region",
    "limits.max_runtime",
    "limits.max_cost_usd",
    "restarts.max_preemptions",
    "restarts.max_failures",
)
ENV_PREFIX = "env."
MAX_POINTS = 256
_HINT = "write --param PATH=V1,V2 with PATH one of env.NAME, " + ", ".join(SWEEPABLE)


@dataclass(frozen=True)
class Param:
    """One ``--param``: a spec field path and the values it takes, in the order given."""

    path: str
    values: tuple[str, ...]

    @property
    def option(self) -> str:
        return f"--param {self.path}={','.join(self.values)}"


@dataclass(frozen=True)
class Point:
    """One job of the sweep: its place in the grid, its values and its validated spec."""

    index: int
    params: dict[str, str]
    loaded: LoadedSpec

    @property
    def key(self) -> str:
        """What identifies the point among the sweep's jobs (its values, not its place)."""
        return point_key(self.params)

    def label(self) -> str:
        return " ".join(f"{path}={value}" for path, value in self.params.items())


@dataclass(frozen=True)
class Grid:
    """A sweep: its id, the spec it varies, its parameters and every point of their product."""

    sweep_id: str
    base: LoadedSpec
    params: tuple[Param, ...]
    points: tuple[Point, ...]


def point_key(params: dict[str, str]) -> str:
    """The canonical form of a point's values (the same for the same values in any order)."""
    return json.dumps(params, sort_keys=True)


def parse_param(text: str) -> Param:
    """``PATH=V1,V2,...`` as a Param; InvalidInputError (exit 2) naming the option when it is not one."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InvalidInputError(f"--param {text!r}: expected PATH=V1,V2,...", hint=_HINT)
    if not (path in SWEEPABLE or (path.startswith(ENV_PREFIX) and len(path) > len(ENV_PREFIX))):
        raise InvalidInputError(f"--param {text!r}: {path} cannot be swept", hint=_HINT)
    values = tuple(v.strip() for v in raw.split(","))
    if any(not v for v in values):
        raise InvalidInputError(f"--param {text!r}: empty value", hint="separate values with commas: env.LR=0.1,0.01")
    if len(set(values)) != len(values):
        raise InvalidInputError(f"--param {text!r}: a value appears twice")
    return Param(path, values)


def build_grid(loaded: LoadedSpec, options: Sequence[str]) -> Grid:
    """Every point of the grid ``options`` span over ``loaded``, each validated; one SpecError lists every problem."""
    params = tuple(parse_param(option) for option in options)
    if not params:
        raise InvalidInputError("a sweep needs at least one --param", hint=_HINT)
    seen = [p.path for p in params]
    twice = sorted({p for p in seen if seen.count(p) > 1})
    if twice:
        raise InvalidInputError(f"--param {twice[0]} is given more than once", hint="list every value in one --param: PATH=V1,V2")
    size = 1
    for param in params:
        size *= len(param.values)
    if size > MAX_POINTS:
        raise InvalidInputError(f"the sweep has {size} points, more than {MAX_POINTS}", hint="sweep fewer values at once")
    given = loaded.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)  # as written: notices stay true
    points: list[Point] = []
    problems: list[str] = []
    for index, values in enumerate(itertools.product(*(p.values for p in params))):
        chosen = {p.path: v for p, v in zip(params, values, strict=True)}
        point, found = _point(loaded, given, index, chosen)
        problems += [line for line in found if line not in problems]
        if point is not None:
            points.append(point)
    if problems:
        raise SpecError(
            f"{loaded.source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the sweep's points",
            details=problems,
            hint="`trainctl schema` prints every field with its type",
        )
    return Grid(sweep_id(loaded, params), loaded, params, tuple(points))


def sweep_id(loaded: LoadedSpec, params: Sequence[Param]) -> str:
    """``<name>-sweep-<8 hex>``: a digest of the normalized spec and the parameters with their values."""
    document = {"spec": loaded.spec.to_document(), "params": [[p.path, list(p.values)] for p in params]}
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:8]
    return f"{loaded.spec.name}-sweep-{digest}"


def _point(loaded: LoadedSpec, given: dict[str, Any], index: int, chosen: dict[str, str]) -> tuple[Point | None, list[str]]:
    """The point's spec (or None) and its problems, each naming the ``--param`` at fault."""
    from pydantic import ValidationError

    from orchestrator.spec.models import JobSpec

    document = json.loads(json.dumps(given))
    for path, value in chosen.items():
        section, _, name = path.partition(".")
        document.setdefault(section, {})[name] = value if section == "env" else _scalar(value)
    try:
        spec = JobSpec.model_validate(document)
    except ValidationError as e:
        return None, [_problem(err, chosen) for err in e.errors(include_url=False)]
    notices = rules.notices(spec.target, spec.resources.model_fields_set)
    return Point(index, chosen, LoadedSpec(spec=spec, source=loaded.source, base_dir=loaded.base_dir, notices=notices)), []


def _scalar(value: str) -> Any:
    """``value`` as YAML reads it in a spec file (``true`` -> True, ``64`` -> 64, ``2h`` -> "2h")."""
    from orchestrator.spec.yamlguard import safe_load

    parsed = safe_load(value, "--param value")
    return parsed if isinstance(parsed, str | int | float | bool) or parsed is None else value


def _problem(error: Any, chosen: dict[str, str]) -> str:
    """One validation error as ``--param PATH=VALUE: PATH: message``."""
    loc = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    culprit = next((p for p in chosen if loc == p or loc.startswith(p + ".") or p.startswith(loc + ".")), None)
    if culprit is None:  # a rule over the whole document: every value of the point may be at fault
        where = ", ".join(f"--param {p}={v}" for p, v in chosen.items())
        return f"{where}: {loc or '(top level)'}: {message}"
    return f"--param {culprit}={chosen[culprit]}: {loc}: {message}"
