"""Validate and normalize a spec document without importing pydantic (start-up time is a feature).

Importing pydantic and building the JobSpec validator costs more than the whole 0.25 s start-up
budget of ``trainctl validate``. So validate first reads ``schema.json``, the JSON Schema that the
pydantic models generate (``python -m orchestrator.spec.fastpath`` rewrites it; a test fails when it
is stale), and checks the document against it here, running the same rule functions the models run
(``orchestrator.spec.rules``).

The fast path may only ever be *stricter* than the models: it accepts a document only when it is
sure, and then returns exactly what ``JobSpec.to_document()`` would. Anything else (an invalid
document, a lax input pydantic might coerce, a schema keyword this module does not know, a schema
file older than the models' source) answers None, and the caller asks pydantic, which also words
the errors. Property tests hold the two paths to the same answers.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

from orchestrator.spec import rules
from orchestrator.spec.rules import DOCUMENT_RULES_KEY, RULE_KEY

SCHEMA_FILE = Path(__file__).with_name("schema.json")
# The files whose content decides the schema: when any of them changes, schema.json is stale.
SOURCES = ("models.py", "rules.py", "durations.py")
SOURCE_KEY = "x-trainctl-source"

# Keywords that only describe (or that the parent handles): ignored when checking a value.
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$schema", "$id", "$defs", SOURCE_KEY, DOCUMENT_RULES_KEY}
)
_CHECKS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "const",
        "enum",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "$ref",
        RULE_KEY,
    }
)
KNOWN_KEYWORDS = _ANNOTATIONS | _CHECKS
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


class _NotSure(Exception):
    """This path cannot vouch for the value: the document goes to pydantic."""


def normalize(document: Any) -> dict[str, Any] | None:
    """The normalized spec (as ``JobSpec.to_document()``) when the fast path is sure it is valid, else None."""
    schema = compiled_schema()
    if schema is None:
        return None
    try:
        result = _Checker(schema).value(document, schema)
        for name in schema.get(DOCUMENT_RULES_KEY, ()):
            if name not in rules.DOCUMENT_RULES:
                raise _NotSure(f"unknown document rule {name}")
            rules.DOCUMENT_RULES[name](result)
    except (_NotSure, ValueError):
        return None
    return result if isinstance(result, dict) else None


def fingerprint() -> str:
    """A checksum of the sources the schema is generated from (staleness, not security)."""
    here = Path(__file__).parent
    crc = 0
    for name in SOURCES:
        crc = zlib.crc32((here / name).read_bytes(), crc)
    return f"crc32:{crc:08x}"


def compiled_schema() -> dict[str, Any] | None:
    """schema.json when it was generated from the models as they are now, else None."""
    try:
        schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        current = fingerprint()
    except (OSError, ValueError):
        return None
    return schema if schema.get(SOURCE_KEY) == current else None


def generate() -> dict[str, Any]:
    """The schema file's content: the models' JSON Schema stamped with the sources' fingerprint."""
    from orchestrator.spec.models import json_schema  # pydantic: only when (re)generating

    schema = json_schema()
    schema[SOURCE_KEY] = fingerprint()
    return schema


def write() -> Path:
    """(Re)write schema.json from the models."""
    SCHEMA_FILE.write_text(json.dumps(generate(), indent=2) + "\n", encoding="utf-8")
    return SCHEMA_FILE


class _Checker:
    """Checks one value against one schema node, returning the normalized value."""

    def __init__(self, root: dict[str, Any]) -> None:
        self._defs: dict[str, Any] = root.get("$defs", {})

    def value(self, value: Any, node: dict[str, Any]) -> Any:
        unknown = node.keys() - KNOWN_KEYWORDS
        if unknown:
            raise _NotSure(f"schema keywords {sorted(unknown)}")
        if "$ref" in node:
            return self.value(value, self._resolve(node["$ref"]))
        if "anyOf" in node:
            return self._optional(value, node["anyOf"])
        self._check_type(value, node)
        self._check_scalar(value, node)
        if isinstance(value, dict):
            value = self._object(value, node)
        elif isinstance(value, list):
            value = [self.value(item, node.get("items", {})) for item in value]
        elif isinstance(value, float | int) and not isinstance(value, bool) and node.get("type") == "number":
            value = float(value)
        if RULE_KEY in node:
            rule = rules.FIELD_RULES.get(node[RULE_KEY])
            if rule is None:
                raise _NotSure(f"unknown rule {node[RULE_KEY]}")
            value = rule(value)
        return value

    def _resolve(self, ref: str) -> dict[str, Any]:
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix) :] not in self._defs:
            raise _NotSure(f"reference {ref}")
        target: dict[str, Any] = self._defs[ref[len(prefix) :]]
        return target

    def _optional(self, value: Any, options: list[dict[str, Any]]) -> Any:
        # Only ``X | None`` is understood: the two branches can never both accept a value.
        rest = [option for option in options if option != {"type": "null"}]
        if len(options) != 2 or len(rest) != 1:
            raise _NotSure("a union other than X | None")
        return None if value is None else self.value(value, rest[0])

    @staticmethod
    def _check_type(value: Any, node: dict[str, Any]) -> None:
        kind = node.get("type")
        if kind is None:
            raise _NotSure("a node without a type")
        allowed = _TYPES.get(kind) if isinstance(kind, str) else None
        if allowed is None:
            raise _NotSure(f"type {kind!r}")
        # Exact types only (bool is an int to Python, not to the spec): a lax input goes to pydantic.
        if type(value) not in allowed:
            raise _NotSure(f"{type(value).__name__} where the schema says {kind}")

    @staticmethod
    def _check_scalar(value: Any, node: dict[str, Any]) -> None:
        if "const" in node and not (type(value) is type(node["const"]) and value == node["const"]):
            raise _NotSure("not the constant")
        if "enum" in node and not any(type(value) is type(option) and value == option for option in node["enum"]):
            raise _NotSure("not one of the choices")
        if isinstance(value, str):
            _check_string(value, node)
        elif isinstance(value, int | float):
            _check_number(value, node)

    def _object(self, value: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        result: dict[str, Any] = {}
        for name, field in properties.items():
            if name in value:
                result[name] = self.value(value[name], field)
            elif "default" in field:
                # A default goes through the same checks, which normalizes it as pydantic dumps it.
                result[name] = self.value(_copy(field["default"]), field)
            else:
                raise _NotSure(f"missing field {name}")
        for name, item in value.items():
            if name in properties:
                continue
            if type(name) is not str or not isinstance(extra, dict):
                raise _NotSure(f"field {name!r} not in the schema")
            result[name] = self.value(item, extra)
        return result


def _check_string(value: str, node: dict[str, Any]) -> None:
    if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", math.inf):
        raise _NotSure("length out of range")
    # Python's re and pydantic's Rust regex agree on anchored patterns over ASCII text without line
    # breaks ($ differs before a final newline); anything else is left to pydantic.
    pattern = node.get("pattern")
    if pattern is not None and (not value.isascii() or "\n" in value or "\r" in value or not re.search(pattern, value)):
        raise _NotSure("does not match the pattern")


def _check_number(value: float, node: dict[str, Any]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotSure("not a finite number")
    if isinstance(value, int) and abs(value) > 2**53:
        raise _NotSure("an integer beyond exact float range")
    if value < node.get("minimum", -math.inf) or value > node.get("maximum", math.inf):
        raise _NotSure("out of range")
    if value <= node.get("exclusiveMinimum", -math.inf) or value >= node.get("exclusiveMaximum", math.inf):
        raise _NotSure("out of range")


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


if __name__ == "__main__":
    print(f"wrote {write()}")
