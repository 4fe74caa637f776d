"""Each job's stack settings (``Pulumi.<job>.yaml``), kept with the job in the backend beside its state.

The settings hold the stack's config (the normalized spec, the job's identity, the tags), its secrets
(encrypted by the engine) and the secrets provider's state (the passphrase salt). The engine reads and
writes them in a per-operation Automation workspace, a temporary directory: they are loaded into it
when a stack is opened and saved back after every config change, so any later process (the watcher
relaunching a preempted job, `recover`, a teammate) operates the stack with the same config and
secrets. The key is ``.trainctl/stack-settings/trainctl/<job>.yaml`` under the backend's root: a
directory beside ``.pulumi/`` in a file backend; an object store keeps the same key in its bucket.
The store also writes the stack's tags object in one write (the file backend has no engine command
that sets several tags at once).

Plain config values are written into the settings document here, never on an engine command line
(the spec can be hundreds of kilobytes and would show in process listings); only secrets go through
the engine, on its standard input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from orchestrator.store.files import write_atomic

SETTINGS_PREFIX = ".trainctl/stack-settings/trainctl"


class SettingsStore(Protocol):
    """Where a backend keeps each job's stack settings document."""

    def load(self, job_id: str) -> bytes | None: ...

    def save(self, job_id: str, data: bytes) -> None: ...

    def remove(self, job_id: str) -> None: ...

    def save_stack_tags(self, job_id: str, tags: Mapping[str, str]) -> None: ...


class FileSettingsStore:
    """A file backend's settings: ``<state dir>/.trainctl/stack-settings/trainctl/<job>.yaml``, mode 0600."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / SETTINGS_PREFIX
        self.stacks = state_dir / ".pulumi" / "stacks" / "trainctl"

    def path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.yaml"

    def load(self, job_id: str) -> bytes | None:
        try:
            return self.path(job_id).read_bytes()
        except FileNotFoundError:
            return None

    def save(self, job_id: str, data: bytes) -> None:
        write_atomic(self.path(job_id), data)

    def save_stack_tags(self, job_id: str, tags: Mapping[str, str]) -> None:
        """Write the stack's tags object (``<stack>.pulumi-tags``, the file backend's own format) in one go.

        The file backend keeps stack tags in that object and sets them one ``stack tag set`` engine
        start per tag; the engine does not apply ``pulumi:tags`` config to them in this backend.
        """
        write_atomic(self.stacks / f"{job_id}.pulumi-tags", json.dumps({"version": 1, "tags": dict(tags)}).encode())

    def remove(self, job_id: str) -> None:
        self.path(job_id).unlink(missing_ok=True)


def settings_store(state_url: str) -> SettingsStore | None:
    """The settings store of the backend at ``state_url`` (None: this backend keeps none yet)."""
    if state_url.startswith("file://"):
        return FileSettingsStore(Path(state_url[len("file://") :]))
    return None


def with_plain_config(document: bytes | None, values: Mapping[str, str], tags: Mapping[str, str]) -> bytes:
    """The settings ``document`` with ``values`` set as plain config and ``tags`` as ``pulumi:tags``.

    Everything else in the document (encrypted secrets, the secrets provider's salt) is kept. The
    engine merges ``pulumi:tags`` into the stack's tags at every update.
    """
    import yaml

    loaded: Any = yaml.safe_load(document) if document else None
    settings: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    config: dict[str, Any] = dict(settings.get("config") or {})
    config.update(values)
    config["pulumi:tags"] = dict(tags)
    settings["config"] = config
    return yaml.safe_dump(settings, sort_keys=True, width=1 << 30).encode()
