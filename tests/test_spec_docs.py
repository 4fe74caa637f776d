"""docs/spec.md is generated from the spec models and kept current: every field, default and rule."""

from __future__ import annotations

from pathlib import Path

from orchestrator.spec.reference import DEFAULT_PATH, render

REPO = Path(__file__).resolve().parent.parent


def _field_paths(model: type, prefix: str = "") -> list[str]:
    from pydantic import BaseModel

    paths = []
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        path = f"{prefix}{info.alias or name}"
        paths.append(path)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            paths += _field_paths(info.annotation, f"{path}.")
    return paths


def test_spec_reference_is_current() -> None:
    """docs/spec.md is exactly what the models generate (after changing them, run `make spec-schema`)."""
    assert DEFAULT_PATH == REPO / "docs" / "spec.md"
    assert DEFAULT_PATH.read_text() == render(), "docs/spec.md is stale: run `make spec-schema`"


def test_every_field_of_the_models_has_a_row() -> None:
    """Each field of the spec models, nested ones by their dotted path, has its own row in the reference."""
    from orchestrator.spec.models import JobSpec

    page = render()
    missing = [path for path in _field_paths(JobSpec) if f"| `{path}` |" not in page]
    assert missing == []
    assert "| `resources.instance_type` | string" in page and "| `checkpoints.keep_last` | integer, 1..1000 | `3` |" in page
