"""Each job's stack settings (``Pulumi.<job>.yaml``), kept with the job in the backend beside its state.

The settings hold the stack's config (the normalized spec, the job's identity, the tags), its secrets
(encrypted by the engine) and the secrets provider's state (the passphrase salt, or the data key a key
service encrypted). The engine reads and writes them in a per-operation Automation workspace, a
temporary directory: they are loaded into it when a stack is opened and saved back after every config
change, so any later process (the watcher relaunching a preempted job, `recover`, a teammate with
another home or on another machine) operates the stack with the same config and secrets. They live in
the backend object store (``orchestrator.store``) under ``stack-settings/trainctl/<job>.yaml``: in a
file backend ``<state dir>/.trainctl/...`` (mode 0600), in an S3 backend ``<prefix>/.trainctl/...`` of
its bucket. The store also writes the stack's tags object (``.pulumi/stacks/trainctl/<job>.pulumi-tags``,
the format every DIY backend reads) in one write: the engine sets them one ``stack tag set`` engine
start per tag, and does not apply ``pulumi:tags`` config to them in these backends.

Plain config values are written into the settings document here, never on an engine command line
(the spec can be hundreds of kilobytes and would show in process listings); only secrets go through
the engine, on its standard input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from orchestrator.store import ENGINE_DIR, STORES, backend_store

SETTINGS_PREFIX = "stack-settings/trainctl"
TAGS_PREFIX = "stacks/trainctl"  # under the engine's directory, beside each stack's checkpoint


class SettingsStore(Protocol):
    """Where a backend keeps each job's stack settings document."""

    def load(self, job_id: str) -> bytes | None: ...

    def save(self, job_id: str, data: bytes) -> None: ...

    def remove(self, job_id: str) -> None: ...

    def save_stack_tags(self, job_id: str, tags: Mapping[str, str]) -> None: ...


class BackendSettingsStore:
    """Settings documents in the backend's object store; stack tags in the engine's own objects."""

    def __init__(self, state_url: str) -> None:
        self.objects = backend_store(state_url)
        self.engine_objects = backend_store(state_url, ENGINE_DIR)

    def load(self, job_id: str) -> bytes | None:
        return self.objects.read(f"{SETTINGS_PREFIX}/{job_id}.yaml")

    def save(self, job_id: str, data: bytes) -> None:
        self.objects.write(f"{SETTINGS_PREFIX}/{job_id}.yaml", data)

    def save_stack_tags(self, job_id: str, tags: Mapping[str, str]) -> None:
        """Write the stack's tags object (the DIY backends' own format) in one go."""
        document = json.dumps({"version": 1, "tags": dict(tags)}).encode()
        self.engine_objects.write(f"{TAGS_PREFIX}/{job_id}.pulumi-tags", document)

    def remove(self, job_id: str) -> None:
        self.objects.delete(f"{SETTINGS_PREFIX}/{job_id}.yaml")


def settings_store(state_url: str) -> SettingsStore | None:
    """The settings store of the backend at ``state_url`` (None: a kind of backend trainctl keeps no objects in)."""
    if state_url.split("://", 1)[0].lower() not in STORES:
        return None
    return BackendSettingsStore(state_url)


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
