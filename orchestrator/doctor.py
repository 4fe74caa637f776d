"""The checks behind `trainctl doctor`: each says ok or missing, and what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import TrainctlError
from orchestrator.settings import get_settings

AWS_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = True


def run_checks() -> list[Check]:
    """Every check, in the order they are printed."""
    return [_python(), _engine(), _backend(), _passphrase(), _aws(), _policy_pack()]


def _python() -> Check:
    version = ".".join(str(v) for v in sys.version_info[:3])
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"{version} ({sys.executable})", None if ok else "use Python 3.11 or newer")


def _engine() -> Check:
    from orchestrator.engine import find_engine

    try:
        engine = find_engine()
    except TrainctlError as e:
        return Check("engine", False, e.message, e.hint)
    try:
        out = subprocess.run([str(engine.pulumi), "version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        return Check("engine", False, f"{engine.pulumi} cannot run: {e.strerror}", "run `trainctl engine install --force`")
    version = out.stdout.strip()
    return Check("engine", out.returncode == 0, f"pulumi {version} at {engine.pulumi} ({engine.source})")


def _backend() -> Check:
    url = get_settings().state_url
    if url.startswith("file://"):
        path = Path(url[len("file://") :])
        probe = path if path.exists() else path.parent
        writable = os.access(probe, os.W_OK) if probe.exists() else os.access(probe.parent, os.W_OK)
        fix = None if writable else f"make {path} writable or set TRAINCTL_BACKEND_URL"
        return Check("backend", writable, url, fix)
    return Check("backend", True, f"{url} (remote: reachability is checked at first use)")


def _passphrase() -> Check:
    from orchestrator.engine.passphrase import passphrase_file_in_use, passphrase_problem, passphrase_source, passphrase_variable
    from orchestrator.engine.secrets import is_team_backend, new_stack_provider

    settings = get_settings()
    key_service = new_stack_provider(settings)
    if key_service:
        return Check("passphrase", True, f"not needed: new stacks' secrets use {key_service}")
    if is_team_backend(settings.state_url) and not passphrase_variable():
        return Check(
            "passphrase",
            False,
            "a team backend needs secrets every member can decrypt, and none is set",
            "set TRAINCTL_SECRETS_PROVIDER=awskms://alias/NAME?region=R, or PULUMI_CONFIG_PASSPHRASE_FILE (docs/teams.md)",
        )
    home_file = settings.passphrase_file
    in_use = passphrase_file_in_use(home_file)
    problem = passphrase_problem(in_use) if in_use is not None else None
    if problem:
        return Check("passphrase", False, *problem)
    source = passphrase_source(home_file)
    if source:
        return Check("passphrase", True, f"set ({source})")
    return Check(
        "passphrase",
        True,
        "not set yet: a random one is created at first use in " + str(home_file),
        "for a shared backend, set PULUMI_CONFIG_PASSPHRASE_FILE to the team's passphrase file",
        required=False,
    )


def _aws() -> Check:
    present = [name for name in AWS_CREDENTIAL_VARS if os.environ.get(name)]
    shared = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials"))
    if shared.is_file():
        present.append(str(shared))
    if present:
        return Check("aws", True, "credentials present (" + ", ".join(present) + ")", required=False)
    return Check(
        "aws", False, "no AWS credentials found", "needed only for target: aws; see README 'Real cloud account'", required=False
    )


def _policy_pack() -> Check:
    from orchestrator.policy import pack_path

    try:
        launcher = pack_path()
    except TrainctlError as e:
        return Check("policy-pack", False, e.message, e.hint or "set TRAINCTL_POLICY_PACK to the pack's launcher")
    ok = os.access(launcher, os.X_OK) and (launcher.parent / "PulumiPolicy.yaml").is_file()
    fix = None if ok else f"make {launcher} executable (chmod +x) next to its PulumiPolicy.yaml"
    return Check("policy-pack", ok, str(launcher), fix)
