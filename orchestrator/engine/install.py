"""``install_engine``: put the pinned Pulumi engine under ``<engines>/<version>/bin``, offline if need be.

Sources, in order: a ``pulumi`` of the pinned version already on PATH; the official download when the
network allows it; a build from the Go module proxy with the wrapper module in ``gowrapper/``. The
result is cached (``installed.json`` marks a complete install) and never rebuilt; concurrent installs
wait on a file lock; a partial build is never left where ``find_engine`` would take it.

An engine that an earlier trainctl installed at the old default location (inside the trainctl home) is
moved into the cache instead of rebuilt, with a link left behind so the old path still works.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from orchestrator.engine.locate import MARKER, PULUMI_VERSION, Engine, engine_root, installed_engine
from orchestrator.errors import EngineMissingError

Progress = Callable[[str], None]
DOWNLOAD_URL = "https://get.pulumi.com/releases/sdk/pulumi-v{version}-linux-x64.tar.gz"
GO_MAIN_PACKAGES = {"pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"}

# Runs Python dynamic providers: the engine looks for this plugin beside the `pulumi` binary.
DYNAMIC_PROVIDER_SHIM = """#!/bin/sh
# Written by trainctl: runs Pulumi dynamic providers with the Python that runs trainctl.
if [ -n "${PULUMI_RUNTIME_VIRTUALENV:-}" ]; then
  exec "$PULUMI_RUNTIME_VIRTUALENV/bin/python" -u -m pulumi.dynamic "$@"
fi
exec "${PULUMI_PYTHON_CMD:-python3}" -u -m pulumi.dynamic "$@"
"""


def install_engine(
    engines_dir: Path,
    *,
    progress: Progress,
    allow_download: bool = True,
    force: bool = False,
    legacy_dirs: tuple[Path, ...] = (),
) -> Engine:
    """Install the pinned engine into ``engines_dir`` (a no-op when it is already there).

    Without ``force``, an install found in one of ``legacy_dirs`` is moved here instead of rebuilt.
    """
    engines_dir.mkdir(parents=True, exist_ok=True)
    with _install_lock(engines_dir, progress):
        existing = installed_engine(engines_dir)
        if existing is not None and not force:
            progress(f"engine v{PULUMI_VERSION} already installed at {existing.pulumi} ({existing.source})")
            return existing
        adopted = None if force else _adopt_legacy(engines_dir, legacy_dirs, progress)
        if adopted is not None:
            return adopted
        root = engine_root(engines_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".{PULUMI_VERSION}-", dir=engines_dir))
        try:
            source = _obtain(staging / "bin", progress, allow_download)
            _write_shims(staging / "bin")
            version = _binary_version(staging / "bin" / "pulumi")
            if version != PULUMI_VERSION:
                raise EngineMissingError(f"the engine obtained from {source} reports v{version}, expected v{PULUMI_VERSION}")
            (staging / MARKER).write_text(json.dumps({"version": PULUMI_VERSION, "source": source, "installed_at": time.time()}))
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        engine = installed_engine(engines_dir)
        assert engine is not None
        progress(f"engine v{PULUMI_VERSION} installed at {engine.pulumi} (from {source})")
        return engine


def _adopt_legacy(engines_dir: Path, legacy_dirs: tuple[Path, ...], progress: Progress) -> Engine | None:
    """Move a complete install of the pinned version from an old location here; leave a link there."""
    root = engine_root(engines_dir)
    for legacy in legacy_dirs:
        old = engine_root(legacy)
        if old.is_symlink() or not legacy.is_dir():
            continue  # already moved (the link points here or elsewhere), or nothing there
        with _install_lock(legacy, progress):  # an install running there finishes first
            if installed_engine(legacy) is None:
                continue
            if root.exists():
                shutil.rmtree(root)
            shutil.move(str(old), str(root))
            try:
                old.symlink_to(root, target_is_directory=True)
            except OSError as e:
                progress(f"could not leave a link at {old}: {e.strerror}")
        engine = installed_engine(engines_dir)
        if engine is not None:
            progress(f"engine v{PULUMI_VERSION} moved from {old} to {root} (no rebuild; {old} links to it)")
            return engine
    return None


def _obtain(bin_dir: Path, progress: Progress, allow_download: bool) -> str:
    bin_dir.mkdir(parents=True)
    if _copy_from_path(bin_dir, progress):
        return "PATH"
    if allow_download and _download(bin_dir, progress):
        return "download"
    _go_build(bin_dir, progress)
    return "go-build"


def _copy_from_path(bin_dir: Path, progress: Progress) -> bool:
    found = shutil.which("pulumi")
    if not found:
        progress("no pulumi on PATH")
        return False
    version = _binary_version(Path(found))
    if version != PULUMI_VERSION:
        progress(f"pulumi on PATH ({found}) is v{version}, not v{PULUMI_VERSION}: not used")
        return False
    progress(f"using pulumi v{version} from PATH: {found}")
    shutil.copy2(found, bin_dir / "pulumi")
    return True


def _download(bin_dir: Path, progress: Progress) -> bool:
    url = DOWNLOAD_URL.format(version=PULUMI_VERSION)
    progress(f"trying the official download: {url}")
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 - fixed https URL
            data = response.read()
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        progress(f"download unavailable ({getattr(e, 'reason', e)}); building from the Go module proxy instead")
        return False
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if member.isfile() and name.startswith("pulumi"):
                extracted = archive.extractfile(member)
                assert extracted is not None
                target = bin_dir / name
                target.write_bytes(extracted.read())
                target.chmod(0o755)
    return (bin_dir / "pulumi").is_file()


def _go_build(bin_dir: Path, progress: Progress) -> None:
    go = shutil.which("go")
    if go is None:
        raise EngineMissingError(
            f"cannot install the Pulumi engine v{PULUMI_VERSION}: no pulumi of that version on PATH, the download "
            "site is unreachable, and the Go toolchain (`go`) is missing",
            hint="install Go 1.26 or newer (e.g. `apt-get install golang-go`) and rerun `trainctl engine install`",
        )
    with tempfile.TemporaryDirectory(prefix="trainctl-engine-build-") as work:
        module = Path(work) / "gowrapper"
        _copy_wrapper(module)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        ldflags = f"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{PULUMI_VERSION}"
        for binary, package in GO_MAIN_PACKAGES.items():
            progress(f"building {binary} v{PULUMI_VERSION} from the Go module proxy (once per machine; 10+ minutes on 2 cores)")
            command = [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(bin_dir / binary), package]
            _run_with_heartbeat(command, module, env, progress, label=binary)


def _copy_wrapper(target: Path) -> None:
    target.mkdir(parents=True)
    wrapper = resources.files("orchestrator.engine").joinpath("gowrapper")
    for name in ("go.mod", "go.sum", "tools.go"):
        (target / name).write_bytes(wrapper.joinpath(name).read_bytes())


def _run_with_heartbeat(command: list[str], cwd: Path, env: dict[str, str], progress: Progress, *, label: str) -> None:
    started = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(30):
            progress(f"still building {label}: {int(time.monotonic() - started)}s elapsed")

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    finally:
        done.set()
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise EngineMissingError(
            f"building {label} with Go failed (exit {result.returncode}):\n{tail}",
            hint="check that the Go module proxy is reachable (`go env GOPROXY`) and that the disk has ~2 GB free",
        )
    progress(f"built {label} in {int(time.monotonic() - started)}s")


def _write_shims(bin_dir: Path) -> None:
    shim = bin_dir / "pulumi-resource-pulumi-python"
    if not shim.exists():
        shim.write_text(DYNAMIC_PROVIDER_SHIM)
        shim.chmod(0o755)


def _binary_version(binary: Path) -> str:
    try:
        result = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        raise EngineMissingError(f"cannot run {binary}: {e.strerror}") from e
    return result.stdout.strip().lstrip("v")


@contextmanager
def _install_lock(engines_dir: Path, progress: Progress) -> Iterator[None]:
    with open(engines_dir / ".install.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("another engine install is running; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
