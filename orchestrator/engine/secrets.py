"""Which secrets provider encrypts a job's stack secrets, and the engine's complaints about it.

New stacks get ``TRAINCTL_SECRETS_PROVIDER`` (Pulumi's key services: ``awskms://alias/NAME?region=R``
and the like), else Pulumi's default, a passphrase. An existing stack keeps the provider it was created
with (``secretsprovider:`` in its settings document). A team backend (any backend but a local
directory) needs secrets every member can decrypt: a key service, or a passphrase every member has in
``PULUMI_CONFIG_PASSPHRASE``/``PULUMI_CONFIG_PASSPHRASE_FILE``; trainctl never invents a per-home
passphrase for it, since nobody else could read the jobs' secrets.

The engine fails before it changes anything when it cannot decrypt a stack's secrets (it builds the
secrets manager first), so such a failure is an input problem (exit 2) naming the provider, not a
cloud failure.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.engine.passphrase import passphrase_variable
from orchestrator.errors import SecretsProviderError, SettingsError
from orchestrator.settings import Settings

PASSPHRASE = "passphrase"  # noqa: S105 - the name of Pulumi's default provider, not a password
_HINT = {
    PASSPHRASE: "give every member the team's passphrase in PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE",
    "awskms": "check the key exists and that your AWS identity may use it (kms:Encrypt, kms:Decrypt)",
}
# what the engine prints when the secrets manager cannot be built or cannot encrypt/decrypt
_SECRETS_FAILURE = re.compile(
    r"incorrect passphrase|passphrase must be set|secrets manager|secrets \(code=|operation error KMS"
    r"|failed to decrypt|decrypting secret",
    re.IGNORECASE,
)


def is_team_backend(state_url: str) -> bool:
    """Whether the backend may be shared (anything but a local directory)."""
    return not state_url.startswith("file://")


def new_stack_provider(settings: Settings) -> str | None:
    """The ``--secrets-provider`` of ``stack init`` (None: the engine's default, a passphrase)."""
    provider = settings.secrets_provider
    return None if provider in (None, PASSPHRASE) else provider


def require_team_secrets(settings: Settings) -> None:
    """On a team backend, refuse (exit 2) a passphrase that only this home would know."""
    if not is_team_backend(settings.state_url) or new_stack_provider(settings) or passphrase_variable():
        return
    raise SettingsError(
        "a team backend needs secrets every member can decrypt: no secrets provider is set",
        context={"backend": settings.state_url.split("?", 1)[0]},
        hint="set TRAINCTL_SECRETS_PROVIDER=awskms://alias/NAME?region=R (see docs/teams.md), "
        "or give every member the team's passphrase in PULUMI_CONFIG_PASSPHRASE_FILE",
    )


def stack_provider(document: bytes | None, settings: Settings) -> str:
    """The provider that encrypts a stack's secrets, as a user names it (never a secret value)."""
    provider: Any = None
    if document:
        import yaml

        loaded = yaml.safe_load(document)
        provider = loaded.get("secretsprovider") if isinstance(loaded, dict) else None
    if not provider:
        provider = new_stack_provider(settings) if document is None else None
    if provider and provider != PASSPHRASE:
        return str(provider)
    source = passphrase_variable() or str(settings.passphrase_file)
    return f"{PASSPHRASE} (from {source})"


def secrets_failure(operation: str, text: str, provider: str, engine_message: str) -> SecretsProviderError | None:
    """A SecretsProviderError naming ``provider`` when the engine's ``text`` is a secrets failure."""
    if not _SECRETS_FAILURE.search(text):
        return None
    kind = provider.split("://", 1)[0] if "://" in provider else PASSPHRASE
    return SecretsProviderError(
        f"{operation}: the secrets provider {provider} cannot encrypt or decrypt this job's secrets: {engine_message}",
        context={"secrets_provider": provider},
        hint=_HINT.get(kind, "check that this secrets provider's key exists and that you may use it"),
    )
