"""A job's stack settings document as trainctl keeps it in the backend (no engine needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from orchestrator.engine.stack_settings import BackendSettingsStore, settings_store, with_plain_config

WRITTEN_BY_THE_ENGINE = b"""config:
  trainctl:secrets:
    secure: v1:abc:def
  trainctl:spec: '{"old": true}'
encryptionsalt: v1:salt:v1:nonce:cipher
"""


def test_plain_config_is_set_and_the_engine_s_secrets_and_salt_are_kept() -> None:
    """New plain values and tags replace old ones; the encrypted secret and the passphrase salt stay as the engine wrote them."""
    big = "x" * 200_000
    document = yaml.safe_load(
        with_plain_config(WRITTEN_BY_THE_ENGINE, {"trainctl:spec": big, "trainctl:jobId": "j-1"}, {"a": "b"})
    )
    assert document["encryptionsalt"] == "v1:salt:v1:nonce:cipher"
    assert document["config"]["trainctl:secrets"] == {"secure": "v1:abc:def"}
    assert document["config"]["trainctl:spec"] == big and document["config"]["trainctl:jobId"] == "j-1"
    assert document["config"]["pulumi:tags"] == {"a": "b"}


def test_values_that_look_like_other_types_stay_strings() -> None:
    """A plain value such as "true" or "0.001" is stored as a string, as the engine would."""
    document = yaml.safe_load(with_plain_config(None, {"trainctl:x": "true", "trainctl:y": "0.001"}, {}))
    assert document["config"]["trainctl:x"] == "true" and document["config"]["trainctl:y"] == "0.001"


def test_the_file_backend_keeps_settings_beside_its_state_private(tmp_path: Path) -> None:
    """A file backend stores the document under .trainctl/stack-settings (mode 0600), loads and removes it."""
    store = settings_store(f"file://{tmp_path}")
    assert isinstance(store, BackendSettingsStore)
    assert store.load("j-1") is None
    store.save("j-1", b"config: {}\n")
    path = tmp_path / ".trainctl" / "stack-settings" / "trainctl" / "j-1.yaml"
    assert path.read_bytes() == b"config: {}\n" and store.load("j-1") == b"config: {}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["j-1.yaml"]  # no temporary file left
    store.remove("j-1")
    assert store.load("j-1") is None
    assert settings_store("https://api.pulumi.com") is None
