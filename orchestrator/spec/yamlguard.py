"""Limits on YAML that trainctl did not write (job specs, policy configs), checked before it is built.

A few hundred bytes of YAML can describe billions of values through nested aliases (the "billion
laughs"), a cycle through a recursive alias, or a nesting deep enough to exhaust the composer's stack.
``check_yaml_limits`` reads the parser's event stream once, never expanding an alias: it counts what
each anchor would expand to and refuses the document when it is larger than ``MAX_BYTES``, nests
deeper than ``MAX_DEPTH``, would expand to more than ``MAX_VALUES`` values, aliases an anchor from
inside itself, or carries a tag outside YAML's core schema (``!custom``, ``!!python/name:...``).
Each refusal is an invalid-input error (exit 2) that names the limit and the line.
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.errors import InvalidInputError

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_VALUES = 100_000
_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset({"!", *(_CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))})
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HINT = "a trainctl document is plain YAML: mappings, lists and scalars, without custom tags or alias tricks"


def check_yaml_limits(text: str, source: str, error: type[InvalidInputError] = InvalidInputError) -> None:
    """Raise ``error`` when ``text`` breaks a limit above; YAML syntax errors propagate as yaml.YAMLError."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise error(f"{source}: the document is {size} bytes, over the limit of {MAX_BYTES} bytes", hint=_HINT)
    _EventCounter(source, error).run(text)


class _EventCounter:
    """Walks the event stream keeping, per open collection, its anchor and the values it expands to."""

    def __init__(self, source: str, error: type[InvalidInputError]) -> None:
        self._source = source
        self._error = error
        self._open: list[tuple[str | None, list[int]]] = []
        self._sizes: dict[str, int] = {}

    def run(self, text: str) -> None:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
                self._check_tag(event)
            if isinstance(event, yaml.CollectionStartEvent):
                self._start(event)
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, count = self._open.pop()
                self._add(count[0] + 1, anchor, event)
            elif isinstance(event, yaml.ScalarEvent):
                self._add(1, event.anchor, event)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event)

    def _start(self, event: yaml.CollectionStartEvent) -> None:
        if len(self._open) >= MAX_DEPTH:
            self._refuse(event, f"nesting deeper than {MAX_DEPTH} levels (the limit)")
        self._open.append((event.anchor, [0]))

    def _alias(self, event: yaml.AliasEvent) -> None:
        if any(anchor == event.anchor for anchor, _ in self._open):
            self._refuse(event, f"recursive alias *{event.anchor} (it refers to a value that contains it)")
        # An undefined alias counts nothing here; composing the document reports it.
        self._add(self._sizes.get(event.anchor or "", 0), None, event)

    def _add(self, values: int, anchor: str | None, event: yaml.Event) -> None:
        if anchor:
            self._sizes[anchor] = values
        if self._open:
            self._open[-1][1][0] += values
            values = self._open[-1][1][0]
        if values > MAX_VALUES:
            self._refuse(event, f"aliases expand the document to more than {MAX_VALUES} values (the limit)")

    def _check_tag(self, event: Any) -> None:
        tag = event.tag
        if tag is not None and tag not in ALLOWED_TAGS:
            self._refuse(event, f"unknown YAML tag {tag} (only plain mappings, lists and scalars are read)")

    def _refuse(self, event: yaml.Event, problem: str) -> None:
        line = f":{event.start_mark.line + 1}" if event.start_mark else ""
        raise self._error(f"{self._source}{line}: {problem}", hint=_HINT)


def safe_load(text: str, source: str, error: type[InvalidInputError] = InvalidInputError) -> Any:
    """``text`` as plain Python values after ``check_yaml_limits``; any YAML problem raises ``error``."""
    try:
        check_yaml_limits(text, source, error)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader: CSafeLoader or SafeLoader)
    except yaml.YAMLError as e:
        raise error(f"{source}: not valid YAML: {e}", hint=_HINT) from None
