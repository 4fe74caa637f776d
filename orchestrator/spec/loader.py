"""``parse_spec``: YAML text -> JobSpec, with every problem named by field path and line.

PyYAML composes the document into nodes (which carry their marks); we build plain Python values
from them ourselves so that each field path remembers the line it came from. Pydantic's errors are
then reported against those lines, all of them at once, one line each.

``check_spec`` (what ``trainctl validate`` runs) answers from the pydantic-free fast path when it
can and asks the models only when it cannot, so pydantic is imported here lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from orchestrator import tracing
from orchestrator.errors import SpecError
from orchestrator.spec import fastpath, rules
from orchestrator.spec.yamlguard import check_yaml_limits

if TYPE_CHECKING:
    from orchestrator.spec.models import JobSpec

PathKey = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and where it came from."""

    spec: JobSpec
    source: str
    base_dir: Path
    notices: list[str] = field(default_factory=list)

    def with_target(self, target: str) -> LoadedSpec:
        """The same spec aimed at ``target`` (``--target``), validated again."""
        from pydantic import ValidationError

        try:
            spec = self.spec.with_target(target)
        except ValidationError as e:
            problems = [
                f"{self.source}: {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in e.errors()
            ]
            raise SpecError(f"{self.source}: not valid for target {target}", details=problems) from None
        return LoadedSpec(spec=spec, source=self.source, base_dir=self.base_dir, notices=_notices(spec))

    @property
    def workdir(self) -> Path:
        """``code.workdir`` resolved against the spec file's directory."""
        return (self.base_dir / self.spec.code.workdir).resolve()


@dataclass(frozen=True)
class CheckedSpec:
    """A valid spec as its normalized document (what ``validate`` needs; no model objects)."""

    document: dict[str, Any]
    source: str
    notices: list[str] = field(default_factory=list)


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, parse and validate the spec file at ``path``."""
    file = Path(path)
    with tracing.span("spec validation", **{"trainctl.spec": str(file)}):
        loaded = parse_spec(_read(file), source=str(file))
    return LoadedSpec(spec=loaded, source=str(file), base_dir=file.resolve().parent, notices=_notices(loaded))


def check_spec(path: str | Path) -> CheckedSpec:
    """Read and validate the spec file at ``path``; fast when the spec is valid, exact errors when not."""
    file = Path(path)
    document, lines = _document(_read(file), str(file))
    normalized = fastpath.normalize(document)
    if normalized is not None:
        resources = document.get("resources")
        given = resources if isinstance(resources, dict) else {}
        return CheckedSpec(normalized, str(file), rules.notices(normalized["target"], given))
    spec = _validate(document, lines, str(file))
    return CheckedSpec(spec.to_document(), str(file), _notices(spec))


def _read(file: Path) -> str:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SpecError(f"spec file not found: {file}", hint="check the path; specs are YAML files such as job.yaml") from e
    except IsADirectoryError as e:
        raise SpecError(f"spec path is a directory, not a file: {file}") from e
    except UnicodeDecodeError as e:
        raise SpecError(f"{file}: not UTF-8 text (byte {e.start})") from e
    except OSError as e:
        raise SpecError(f"cannot read spec file {file}: {e.strerror}") from e
    return text


def parse_spec(text: str, *, source: str = "<spec>") -> JobSpec:
    """Parse YAML ``text`` into a JobSpec; raise one SpecError listing every problem."""
    document, lines = _document(text, source)
    return _validate(document, lines, source)


def _document(text: str, source: str) -> tuple[dict[str, Any], dict[PathKey, int]]:
    """The YAML document as plain values (a mapping, or a SpecError) and the line of every path."""
    document, lines = _compose(text, source)
    if document is None:
        raise SpecError(f"{source}: the spec is empty", hint="start from `trainctl schema` or examples/quickstart/job.yaml")
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else f"a {type(document).__name__}"
        raise SpecError(
            f"{source}:1: the spec must be a mapping of fields (name: ..., code: ...), got {kind}",
            details=[f"{source}:1: (top level): expected a mapping, got {kind}"],
        )
    return document, lines


def _validate(document: dict[str, Any], lines: dict[PathKey, int], source: str) -> JobSpec:
    from pydantic import ValidationError

    from orchestrator.spec.models import JobSpec

    try:
        return JobSpec.model_validate(document)
    except ValidationError as e:
        described = sorted(
            (_line_of(tuple(err["loc"]), lines), _describe(err, lines, source)) for err in e.errors(include_url=False)
        )
        problems = [text for _, text in described]
        raise SpecError(
            f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the job spec",
            details=problems,
            hint="`trainctl schema` prints every field with its type",
        ) from None


def _notices(spec: JobSpec) -> list[str]:
    return rules.notices(spec.target, spec.resources.model_fields_set)


def _compose(text: str, source: str) -> tuple[Any, dict[PathKey, int]]:
    lines: dict[PathKey, int] = {(): 1}
    try:
        check_yaml_limits(text, source, SpecError)  # before anything is composed or expanded
        node = yaml.compose(text, Loader=_Loader)
        return (None, lines) if node is None else (_Builder(source, lines).value(node, ()), lines)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = e.problem or str(e)
        raise SpecError(f"{source}{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{source}: YAML error: {e}") from None


class _Builder:
    """Turns composed YAML nodes into Python values, recording the line of every path."""

    def __init__(self, source: str, lines: dict[PathKey, int]) -> None:
        self._source = source
        self._lines = lines
        self._scalars = _Loader("")

    def value(self, node: yaml.Node, path: PathKey) -> Any:
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalars.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            where = ".".join(str(p) for p in path) or "(top level)"
            key = self._scalars.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise SpecError(f"{self._source}:{line}: {where}: keys must be strings, got {key!r}")
            if key in result:
                raise SpecError(f"{self._source}:{line}: {_dotted((*path, key))}: key appears twice")
            result[key] = self.value(value_node, (*path, key))
            self._lines[(*path, key)] = line  # a field is "on" the line of its key
        return result


def _describe(error: Any, lines: dict[PathKey, int], source: str) -> str:
    loc: PathKey = tuple(error["loc"])
    message = error["msg"]
    if error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown field" + _suggestion(loc)
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    field_path = _dotted(loc) or "(top level)"
    if "input" in error and error["type"] not in ("missing", "extra_forbidden") and not isinstance(error["input"], dict | list):
        message += f" (got {error['input']!r})"
    return f"{source}:{_line_of(loc, lines)}: {field_path}: {message}"


def _suggestion(loc: PathKey) -> str:
    """``; did you mean X?`` when an unknown field's name is close to a known field of its section."""
    import difflib

    known = _known_fields(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.7) if known else []
    return f"; did you mean {close[0]}?" if close else ""


def _known_fields(section: PathKey) -> list[str]:
    """The field names (aliases where set) of the spec section at ``section``; [] if it is not a model."""
    from pydantic import BaseModel

    from orchestrator.spec.models import JobSpec

    model: type[BaseModel] = JobSpec
    for part in section:
        info = model.model_fields.get(str(part)) or next((f for f in model.model_fields.values() if f.alias == part), None)
        nested = info.annotation if info is not None else None
        if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
            return []
        model = nested
    return [info.alias or name for name, info in model.model_fields.items()]


def _line_of(loc: PathKey, lines: dict[PathKey, int]) -> int:
    """The line of ``loc``, or of its nearest ancestor present in the file (for missing fields)."""
    for size in range(len(loc), -1, -1):
        if loc[:size] in lines:
            return lines[loc[:size]]
    return 1


def _dotted(loc: PathKey) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
