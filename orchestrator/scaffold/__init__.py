"""``trainctl init``: a starting job directory (a commented job.yaml, a contract-following train.py).

The spec carries a ``# yaml-language-server: $schema=...`` line pointing at the JSON Schema written
beside it, so editors with the YAML language server complete and check it while it is typed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import InvalidInputError

SPEC_FILE = "job.yaml"
SCRIPT_FILE = "train.py"
SCHEMA_FILE = ".trainctl-schema.json"
TARGETS = ("local", "aws")
TEMPLATES = Path(__file__).with_name("templates")
_NAME_MAX = 40


@dataclass(frozen=True)
class Scaffold:
    """What ``init`` wrote (paths) and what it left as it was."""

    directory: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def init_job_dir(directory: Path, *, target: str = "local", force: bool = False) -> Scaffold:
    """Write job.yaml (+ its schema file, + train.py when there is none) into ``directory``."""
    if target not in TARGETS:
        raise InvalidInputError(f"unknown target {target!r}", hint=f"choose one of: {', '.join(TARGETS)}")
    spec = directory / SPEC_FILE
    if spec.exists() and not force:
        raise InvalidInputError(
            f"{spec} already exists; not overwriting it", context={"file": spec}, hint="pass --force to replace it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = [_write(directory / SCHEMA_FILE, _schema_text())]
    written.append(_write(spec, spec_text(target, job_name(directory.resolve().name))))
    script = directory / SCRIPT_FILE
    if script.exists():
        return Scaffold(directory, written, kept=[script])
    written.append(_write(script, (TEMPLATES / SCRIPT_FILE).read_text(encoding="utf-8")))
    return Scaffold(directory, written)


def spec_text(target: str, name: str) -> str:
    """The commented job.yaml for ``target``."""
    template = (TEMPLATES / f"job-{target}.yaml").read_text(encoding="utf-8")
    owner = f"{_user()}@example.com"
    return template.format(schema_file=SCHEMA_FILE, name=name, team="my-team", owner=owner)


def job_name(text: str) -> str:
    """A valid job name (3..40 lowercase letters, digits and '-', starting with a letter) from a directory name."""
    name = re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9]+", "-", text.lower()))[:_NAME_MAX].strip("-")
    return name if len(name) >= 3 else "my-job"


def _user() -> str:
    user = re.sub(r"[^a-z0-9._-]+", "", (os.environ.get("USER") or "").lower())
    return user or "you"


def _schema_text() -> str:
    from orchestrator.spec.models import json_schema

    return json.dumps(json_schema(), indent=2) + "\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
