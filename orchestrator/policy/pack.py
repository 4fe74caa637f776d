"""Where the policy pack is, and its policies as plain Python (never the serving entry point).

The pack is the directory ``policies/`` at the top of the repository (beside ``orchestrator/``), or
what ``TRAINCTL_POLICY_PACK`` names: the pack directory or its launcher. The engine is handed the
launcher, an executable that serves the pack as a binary analyzer plugin. trainctl itself imports only
the pack's ``trainctl_policies`` package, whose policies are plain functions; the module that
constructs ``PolicyPack`` (and blocks, serving gRPC) is ``pack.py``, which trainctl never imports.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from orchestrator.errors import PrerequisiteMissingError
from orchestrator.policy.model import PolicyDef

ENV_VAR = "TRAINCTL_POLICY_PACK"
LAUNCHER = "trainctl-policy-pack"
PACKAGE = "trainctl_policies"
DEFAULTS = "defaults.json"
_HINT = f"set {ENV_VAR} to the policies/ directory of a trainctl checkout (or to its {LAUNCHER} launcher)"


def pack_path() -> Path:
    """The executable launcher of the policy pack, as passed to the engine (``--policy-pack``)."""
    path = _configured()
    launcher = path / LAUNCHER if path.is_dir() else path
    if not launcher.is_file():
        raise PrerequisiteMissingError(f"policy pack launcher not found: {launcher}", hint=_HINT)
    if not os.access(launcher, os.X_OK):
        raise PrerequisiteMissingError(f"policy pack launcher is not executable: {launcher}", hint=f"chmod +x {launcher}")
    return launcher


def pack_dir() -> Path:
    """The pack's directory (holds PulumiPolicy.yaml, the defaults and the policies package)."""
    return pack_path().parent


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


def _configured() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent.parent / "policies"


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
