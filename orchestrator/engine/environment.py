"""The environment every engine process gets: offline, non-interactive, isolated, passphrase by file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestrator.engine.locate import Engine
from orchestrator.engine.passphrase import (
    ensure_passphrase_file,
    passphrase_file_in_use,
    passphrase_variable,
    require_passphrase,
)
from orchestrator.engine.secrets import is_team_backend
from orchestrator.home import private_dir, private_home
from orchestrator.settings import Settings


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
    private_home(settings.home)
    if not passphrase_variable():
        if is_team_backend(settings.state_url):  # a key service (require_team_secrets): no passphrase of this home's own
            return env
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(ensure_passphrase_file(settings.passphrase_file))
    elif (named := passphrase_file_in_use(settings.passphrase_file)) is not None:
        require_passphrase(named)  # the user's PULUMI_CONFIG_PASSPHRASE_FILE: never an empty one either
    if settings.state_url.startswith("file://"):
        private_dir(Path(settings.state_url[len("file://") :]))
    return env
