"""Where the policy pack is, and its policies as plain Python (never the serving entry point).

The pack is what ``TRAINCTL_POLICY_PACK`` names (the pack directory or its launcher), else the copy
installed with trainctl: the wheel carries the repository's ``policies/`` as ``orchestrator/_policies``;
an editable install of a checkout uses ``policies/`` beside ``orchestrator/``. The engine is handed the
launcher, an executable that serves the pack as a binary analyzer plugin. trainctl itself imports only
the pack's ``trainctl_policies`` package, whose policies are plain functions; the module that
constructs ``PolicyPack`` (and blocks, serving gRPC) is ``pack.py``, which trainctl never imports.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import sys
from pathlib import Path
from types import ModuleType

from orchestrator.errors import PrerequisiteMissingError
from orchestrator.home import private_dir, trainctl_home
from orchestrator.policy.model import PolicyDef

ENV_VAR = "TRAINCTL_POLICY_PACK"
LAUNCHER = "trainctl-policy-pack"
PACKAGE = "trainctl_policies"
DEFAULTS = "defaults.json"
MANIFEST = "PulumiPolicy.yaml"
_HINT = f"reinstall trainctl, or set {ENV_VAR} to a policy pack directory (or to its {LAUNCHER} launcher)"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
INSTALLED = _PACKAGE_ROOT / "_policies"  # where the wheel puts the pack


def pack_path() -> Path:
    """The executable launcher of the policy pack, as passed to the engine (``--policy-pack``)."""
    launcher = _launcher()
    if os.access(launcher, os.X_OK):
        return launcher
    if not os.environ.get(ENV_VAR):  # an installer that dropped the exec bit: run the installed pack through a launcher of ours
        return _runnable_launcher(launcher.parent)
    raise PrerequisiteMissingError(f"policy pack launcher is not executable: {launcher}", hint=f"chmod +x {launcher}")


def pack_dir() -> Path:
    """The pack's directory (holds PulumiPolicy.yaml, the defaults and the policies package)."""
    return _launcher().parent


def defaults_path() -> Path:
    """The config defaults that ship with the pack."""
    return pack_dir() / DEFAULTS


def load_policies() -> list[PolicyDef]:
    """Every policy of the pack, in the pack's order."""
    module = _package(pack_dir())
    policies: list[PolicyDef] = module.all_policies()
    return policies


def load_module(name: str) -> ModuleType:
    """A module of the pack's policies package (``adapter``, ``required_tags``...), for tests and tools."""
    _package(pack_dir())
    return importlib.import_module(f"{PACKAGE}.{name}")


def _launcher() -> Path:
    path = _configured()
    launcher = path / LAUNCHER if path.is_dir() else path
    if not launcher.is_file():
        raise PrerequisiteMissingError(f"policy pack launcher not found: {launcher}", hint=_HINT)
    return launcher


def _configured() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    checkout = _PACKAGE_ROOT.parent
    if not INSTALLED.is_dir() and (checkout / "pyproject.toml").is_file() and (checkout / "policies").is_dir():
        return checkout / "policies"  # an editable install: the package is the checkout's orchestrator/
    return INSTALLED


def _runnable_launcher(directory: Path) -> Path:
    """An executable launcher (under ``$TRAINCTL_HOME``) that runs ``directory``'s pack.py with this Python."""
    key = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    home = private_dir(trainctl_home() / "policy-pack" / key)
    (home / MANIFEST).write_bytes((directory / MANIFEST).read_bytes())
    pack = shlex.quote(str(directory / "pack.py"))
    script = f'#!/bin/sh\npython={shlex.quote(sys.executable)}\nexec "${{PULUMI_PYTHON_CMD:-$python}}" -u {pack} "$@"\n'
    launcher = home / LAUNCHER
    tmp = home / f".{LAUNCHER}.{os.getpid()}"
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o700)
    tmp.replace(launcher)
    return launcher


def _package(directory: Path) -> ModuleType:
    """Import ``trainctl_policies`` from ``directory`` (again, if it was imported from another pack)."""
    init = directory / PACKAGE / "__init__.py"
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None and Path(loaded.__file__ or "") == init:
        return loaded
    if not init.is_file():
        raise PrerequisiteMissingError(f"no {PACKAGE} package in the policy pack at {directory}", hint=_HINT)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(PACKAGE, init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return module
