"""The environment every engine process gets: offline, non-interactive, isolated, passphrase by file."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from orchestrator.engine.locate import Engine
from orchestrator.settings import Settings

PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


def engine_env(settings: Settings, engine: Engine) -> dict[str, str]:
    """Variables for the Pulumi CLI: backend, passphrase (as a file, never a value), offline flags."""
    env = {
        "PULUMI_HOME": str(settings.home / "pulumi-home"),
        "PULUMI_BACKEND_URL": settings.state_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "PATH": f"{engine.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if not any(os.environ.get(name) for name in PASSPHRASE_VARS):
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(ensure_passphrase_file(settings.passphrase_file))
    if settings.state_url.startswith("file://"):
        Path(settings.state_url[len("file://") :]).mkdir(parents=True, exist_ok=True)
    return env


def ensure_passphrase_file(path: Path) -> Path:
    """Create the secrets passphrase file (mode 0600) the first time; keep it stable afterwards."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path


def passphrase_source(settings: Settings) -> str | None:
    """Where the passphrase comes from (a variable name or the file), never its value."""
    for name in PASSPHRASE_VARS:
        if os.environ.get(name):
            return name
    return str(settings.passphrase_file) if settings.passphrase_file.exists() else None
