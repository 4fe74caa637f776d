"""A small JSON Schema checker for policy config: the subset the pack's schemas use.

The engine validates the same schemas (gojsonschema) when it configures the pack; this checker lets
trainctl reject a bad config file before any engine starts, naming the key that is wrong. Supported:
``type``, ``enum``, ``minimum``, ``properties``, ``additionalProperties``, ``items``, ``minItems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def problems(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """Every way ``value`` breaks ``schema``, each as ``path: what is wrong``."""
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return [f"{path}: must be {_describe(kind)}, got {_name(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: must be one of {', '.join(map(str, schema['enum']))}, got {value!r}"]
    if "minimum" in schema and _is_number(value) and value < schema["minimum"]:
        return [f"{path}: must be at least {schema['minimum']}, got {value}"]
    if isinstance(value, list):
        return _array_problems(value, schema, path)
    if isinstance(value, dict):
        return _object_problems(value, schema, path)
    return []


def _array_problems(value: list[Any], schema: Mapping[str, Any], path: str) -> list[str]:
    found: list[str] = []
    if len(value) < schema.get("minItems", 0):
        found.append(f"{path}: needs at least {schema['minItems']} item(s)")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            found += problems(item, items, f"{path}[{i}]")
    return found


def _object_problems(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    found: list[str] = []
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in properties:
            found += problems(item, properties[key], where)
        elif extra is False:
            known = ", ".join(sorted(properties)) or "none"
            found.append(f"{where}: unknown key (known: {known})")
        elif isinstance(extra, Mapping):
            found += problems(item, extra, where)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_type(value: Any, kind: str | list[str]) -> bool:
    kinds = [kind] if isinstance(kind, str) else kind
    for name in kinds:
        if name in ("number", "integer") and isinstance(value, bool):
            continue
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, _TYPES.get(name, ())):
            return True
    return False


def _describe(kind: str | list[str]) -> str:
    kinds = [kind] if isinstance(kind, str) else kind
    return " or ".join(("an " if k in ("object", "array", "integer") else "a ") + k for k in kinds)


def _name(value: Any) -> str:
    for name, types in _TYPES.items():
        if _is_type(value, name) and isinstance(value, types):
            return f"{name} {value!r}" if name in ("string", "number", "integer", "boolean") else name
    return type(value).__name__
