"""The secrets passphrase of the default backend: created once, atomically, never empty, private.

When neither ``PULUMI_CONFIG_PASSPHRASE`` nor ``PULUMI_CONFIG_PASSPHRASE_FILE`` is set, trainctl uses
``$TRAINCTL_HOME/passphrase``. The first use writes a random passphrase into a private temporary file
beside it and hard-links that file into place: the link either creates the passphrase file complete,
or fails because another process got there first (whose passphrase then wins). No process can see a
partly written or empty file, however many start at once. An empty passphrase file (left by an older
trainctl, or truncated) is refused: Pulumi would accept it and encrypt secrets with nothing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

from orchestrator.errors import SettingsError
from orchestrator.home import private_dir

PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
_KEEP_HINT = (
    "restore the file from a backup: it decrypts this backend's secrets; if no job has secrets yet, "
    "delete it and trainctl creates a new one"
)


def ensure_passphrase_file(path: Path) -> Path:
    """``path``, created (mode 0600, random) on first use; SettingsError when it exists but is empty."""
    if not path.exists():
        _create(path)
    require_passphrase(path)
    return path


def require_passphrase(path: Path) -> None:
    """Raise SettingsError (exit 2) naming ``path`` when it cannot be read or holds no passphrase."""
    try:
        content = path.read_bytes()
    except OSError as e:
        raise SettingsError(f"cannot read the passphrase file {path}: {e.strerror}", hint=_KEEP_HINT) from e
    if not content.strip():
        raise SettingsError(
            f"the passphrase file {path} is empty: trainctl does not encrypt secrets with an empty passphrase", hint=_KEEP_HINT
        )


def passphrase_variable() -> str | None:
    """The environment variable that carries the user's passphrase (or its file), when one does."""
    return next((name for name in PASSPHRASE_VARS if os.environ.get(name)), None)


def passphrase_source(home_file: Path) -> str | None:
    """Where the passphrase comes from (a variable name or the file), never its value."""
    return passphrase_variable() or (str(home_file) if home_file.exists() else None)


def passphrase_file_in_use(home_file: Path) -> Path | None:
    """The passphrase file the engine reads (the user's, else trainctl's), when there is one yet."""
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return None
    named = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if named:
        return Path(named)
    return home_file if home_file.exists() else None


def passphrase_problem(path: Path) -> tuple[str, str] | None:
    """What makes the passphrase file at ``path`` unusable or unsafe, with the fix; None when it is fine."""
    try:
        info = path.stat()
        empty = not path.read_bytes().strip()
    except OSError as e:
        return f"passphrase file {path} cannot be read: {e.strerror}", "fix the path or the file's permissions"
    if empty:
        return f"passphrase file {path} is empty", _KEEP_HINT
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return f"passphrase file {path} is readable or writable by others (mode {mode:04o})", f"chmod 600 {path}"
    return None


def _create(path: Path) -> None:
    private_dir(path.parent)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked its passphrase first: that one wins
            path.hardlink_to(temporary)
    finally:
        temporary.unlink()
