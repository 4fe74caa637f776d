"""docs/spec.md, generated from the models: every field with its type, default, rules and meaning.

``python -m orchestrator.spec.reference [PATH]`` (``make spec-schema``) rewrites the page; a test fails
when the page in the repository differs from what the models say.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.spec import rules
from orchestrator.spec.rules import DOCUMENT_RULES_KEY, RULE_KEY

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "spec.md"

HEADER = """\
# Job spec reference (apiVersion `trainctl/v1`)

<!-- Generated from orchestrator/spec/models.py and rules.py by `make spec-schema`: do not edit. -->

A job spec is one YAML mapping. Unknown fields are errors (the error suggests the closest known
field); every error names the field path and its line, and all problems are reported at once.
`trainctl validate SPEC --output json` prints a spec with every default filled in;
`trainctl schema` prints the JSON Schema.
"""


def render() -> str:
    """The whole page, from the models' JSON Schema and the rules' docstrings."""
    from orchestrator.spec.models import json_schema  # pydantic: only when generating

    schema = json_schema()
    lines = [HEADER, "## Fields", "", "| field | type | default | rules | meaning |", "| --- | --- | --- | --- | --- |"]
    lines += _rows(schema, schema, prefix="")
    lines += ["", "## Rules across fields", ""]
    lines += [f"- {_doc(rules.DOCUMENT_RULES[name])}" for name in schema.get(DOCUMENT_RULES_KEY, ())]
    cloud = ", ".join(f"`resources.{name}`" for name in rules.CLOUD_RESOURCE_FIELDS)
    lines += ["", "## Targets", "", f"On the `local` target the cloud fields ({cloud}) are ignored, with a notice.", ""]
    return "\n".join(lines)


def write(path: Path = DEFAULT_PATH) -> Path:
    """(Re)write the reference page at ``path``."""
    path.write_text(render(), encoding="utf-8")
    return path


def _rows(node: dict[str, Any], root: dict[str, Any], *, prefix: str) -> list[str]:
    rows = []
    required = set(node.get("required", ()))
    for name, field in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        nested = _resolve(field.get("$ref"), root)
        if nested is not None:
            meaning = field.get("description") or nested.get("description", "")
            rows.append(f"| `{path}` | section | {'required' if name in required else ''} | | {meaning} |")
            rows += _rows(nested, root, prefix=f"{path}.")
            continue
        default = "required" if name in required else _value(field.get("default"))
        rows.append(f"| `{path}` | {_type(field)} | {default} | {_rule(field)} | {field.get('description', '')} |")
    return rows


def _resolve(ref: str | None, root: dict[str, Any]) -> dict[str, Any] | None:
    if ref is None:
        return None
    node: dict[str, Any] = root["$defs"][ref.rsplit("/", 1)[-1]]
    return node


def _type(field: dict[str, Any]) -> str:
    options = [o for o in field.get("anyOf", [field]) if o.get("type") != "null"]
    node = options[0] if options else field
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " or ".join(f"`{v}`" for v in node["enum"])
    if node.get(RULE_KEY) == "duration":
        return "duration (" + ", ".join(f"`{e}`" for e in node.get("examples", ())) + ")"
    kind = str(node.get("type", "any"))
    if kind == "object":
        return "map of string to string"
    if kind == "array":
        return "list of strings"
    return kind + _bounds(node)


def _bounds(node: dict[str, Any]) -> str:
    parts = []
    if "minimum" in node or "maximum" in node:
        parts.append(f"{node.get('minimum', '')}..{node.get('maximum', '')}")
    if "exclusiveMinimum" in node:
        parts.append(f"> {node['exclusiveMinimum']}")
    if "maxLength" in node:
        parts.append(f"{node.get('minLength', 0)}..{node['maxLength']} chars")
    elif node.get("minLength") == 1:
        parts.append("not empty")
    if "pattern" in node:
        parts.append(f"matching `{node['pattern']}`")
    return (", " + ", ".join(parts)) if parts else ""


def _rule(field: dict[str, Any]) -> str:
    names = [o.get(RULE_KEY) for o in field.get("anyOf", [field])]
    return " ".join(_doc(rules.FIELD_RULES[n]) for n in names if n and n != "duration")  # a duration's type says it


def _value(value: Any) -> str:
    return "none" if value is None else f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def _doc(function: Any) -> str:
    return (function.__doc__ or "").strip().splitlines()[0].replace("``", "`")


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH))
