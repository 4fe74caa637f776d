"""Team secrets without the engine: the setting, the refusal of a home-only passphrase, the engine's complaints."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.secrets import require_team_secrets, secrets_failure, stack_provider
from orchestrator.errors import ExitCode, SecretsProviderError, SettingsError
from orchestrator.settings import get_settings, load_settings

KMS_NOT_FOUND = (
    "error: could not create secrets manager for new stack: secrets (code=NotFound): operation error KMS: Encrypt, "
    "https response error StatusCode: 400, NotFoundException: Alias arn:aws:kms:us-east-1:123456789012:alias/nope is not found."
)


def test_a_bad_secrets_provider_setting_exits_2_naming_it(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRAINCTL_SECRETS_PROVIDER must be `passphrase` or a key URL; anything else is exit 2 naming the setting."""
    monkeypatch.setenv("TRAINCTL_SECRETS_PROVIDER", "kms:alias/team")
    result = cli("ls")
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "TRAINCTL_SECRETS_PROVIDER" in result.stderr and "awskms://" in result.stderr


def test_a_team_backend_refuses_a_passphrase_only_this_home_knows(monkeypatch: pytest.MonkeyPatch) -> None:
    """On s3:// with no key service and no passphrase in the environment: exit 2 saying what to set."""
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", "s3://team-state/trainctl")
    with pytest.raises(SettingsError) as refused:
        require_team_secrets(load_settings())
    assert refused.value.exit_code == ExitCode.INVALID_INPUT
    assert "TRAINCTL_SECRETS_PROVIDER" in (refused.value.hint or "")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "the team's")
    require_team_secrets(load_settings())  # a passphrase every member has: accepted
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.setenv("TRAINCTL_SECRETS_PROVIDER", "awskms://alias/team?region=us-east-1")
    require_team_secrets(load_settings())
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", "file:///tmp/state")
    monkeypatch.delenv("TRAINCTL_SECRETS_PROVIDER")
    require_team_secrets(load_settings())  # a local backend keeps its home's passphrase


@pytest.mark.parametrize(
    ("text", "provider"),
    [
        ("error: incorrect passphrase", "passphrase (from PULUMI_CONFIG_PASSPHRASE)"),
        ("error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or ...", "passphrase (from /h/passphrase)"),
        (KMS_NOT_FOUND, "awskms://alias/nope?region=us-east-1"),
        ("error: 2 errors occurred: 1) operation error KMS: Decrypt, AccessDeniedException", "awskms://alias/team"),
    ],
)
def test_engine_secrets_failures_are_exit_2_naming_the_provider(text: str, provider: str) -> None:
    """Each way the engine says it cannot encrypt or decrypt becomes exit 2 naming the provider, with a hint."""
    error = secrets_failure("tearing down", text, provider, text)
    assert isinstance(error, SecretsProviderError) and error.exit_code == ExitCode.INVALID_INPUT
    assert provider in error.message and error.hint


def test_other_engine_failures_are_not_called_secrets_failures() -> None:
    """A resource failure is not mistaken for a secrets problem."""
    assert secrets_failure("allocating", "error: update failed: creating training: exit 1", "passphrase", "x") is None


def test_the_provider_named_is_the_stack_s_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An existing stack is named by the provider in its settings; a new one by the setting; never a secret value."""
    monkeypatch.setenv("TRAINCTL_SECRETS_PROVIDER", "awskms://alias/new?region=us-east-1")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "s3cret-value")
    settings = load_settings()
    assert stack_provider(b"secretsprovider: awskms://alias/old?region=eu-west-1\n", settings) == (
        "awskms://alias/old?region=eu-west-1"
    )
    assert stack_provider(None, settings) == "awskms://alias/new?region=us-east-1"
    named = stack_provider(b"encryptionsalt: v1:abc\n", settings)
    assert named == "passphrase (from PULUMI_CONFIG_PASSPHRASE)" and "s3cret" not in named


def test_doctor_says_what_a_team_backend_lacks(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """On s3:// without a key service or a passphrase in the environment doctor fails the check saying what to set."""
    import json

    monkeypatch.setenv("TRAINCTL_BACKEND_URL", "s3://team-state/trainctl")

    def check() -> dict[str, object]:
        checks = json.loads(cli("doctor", "--output", "json").stdout)["checks"]
        return dict(next(c for c in checks if c["name"] == "passphrase"))

    missing = check()
    assert missing["ok"] is False and "TRAINCTL_SECRETS_PROVIDER" in str(missing["fix"])
    monkeypatch.setenv("TRAINCTL_SECRETS_PROVIDER", "awskms://alias/team?region=us-east-1")
    get_settings.cache_clear()  # settings are read once per process: this is a second "process"
    with_key = check()
    assert with_key["ok"] is True and "awskms://alias/team?region=us-east-1" in str(with_key["detail"])
