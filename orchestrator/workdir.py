"""What a job ships from ``code.workdir``: ONE selection for the local snapshot and the AWS code bundle.

The candidates are the files git would track (or, outside a work tree, a walk honouring .gitignore),
never the trainctl home and never caches such as ``.git`` (``snapshot.candidates``). From them:

- the workdir itself must be a project, not ``/``, the user's home or a directory holding the home;
- credential files (``.ssh/``, ``.aws/``, ``.gnupg/``, ``.netrc``, ``*.pem``, ``id_rsa*``, ...) are
  left out, and the selection says which;
- a symbolic link that stays inside the workdir ships as a link (made relative, so that it means
  the same on the instance); one that leaves it, or points into the trainctl home, is skipped and
  named, unless ``follow_links`` (setting ``follow_workdir_links``) ships what it points to;
- the files' total size is capped (setting ``snapshot_max_mb``).

Everything here is plain standard library: the local target's dynamic provider imports it inside the engine.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import InvalidInputError
from orchestrator.home import trainctl_home

ALWAYS_SKIPPED = {".git", "__pycache__", ".venv", ".trainctl", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
CREDENTIAL_DIRS = frozenset({".ssh", ".aws", ".gnupg", ".kube", ".azure", ".password-store"})
CREDENTIAL_PATHS = (".docker/config.json", ".config/gcloud")
CREDENTIAL_NAMES = (
    *(".netrc", "_netrc", ".git-credentials", ".pgpass", ".pypirc"),
    *("*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*"),
)
MB = 1024 * 1024
_LISTED = 5  # names shown per notice


@dataclass(frozen=True)
class Selection:
    """The workdir's content as shipped, and what was left out of it."""

    source: Path
    files: dict[str, Path] = field(default_factory=dict)  # name in the job -> the file whose content ships
    links: dict[str, str] = field(default_factory=dict)  # name -> relative target inside the workdir
    credentials: list[str] = field(default_factory=list)  # left out: credential files
    skipped_links: dict[str, str] = field(default_factory=dict)  # left out: links leaving the workdir -> target

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files.values())

    def notices(self) -> list[str]:
        """What a user should know about the selection: each kind of file left out, by name."""
        found = []
        if self.credentials:
            found.append(f"code.workdir: left out {len(self.credentials)} credential file(s): {_some(self.credentials)}")
        if self.skipped_links:
            links = [f"{name} -> {target}" for name, target in sorted(self.skipped_links.items())]
            found.append(
                f"code.workdir: skipped {len(links)} symbolic link(s) leaving the workdir: {_some(links)} "
                "(TRAINCTL_FOLLOW_WORKDIR_LINKS=true ships what they point to)"
            )
        return found


def select_workdir(
    source: Path, *, home: Path | None = None, follow_links: bool = False, max_bytes: int | None = None
) -> Selection:
    """The selection of ``source`` under the rules above; InvalidInputError for a refused or oversized workdir."""
    refuse_unsafe_workdir(source)
    real_source, real_home = source.resolve(), (trainctl_home() if home is None else home).resolve()
    selection = Selection(source=source)
    for name in candidates(source, home=real_home):
        path = source / name
        if is_credential(name):
            selection.credentials.append(name)
        elif path.is_symlink():
            _add_link(selection, name, path, real_source, real_home, follow_links)
        elif path.is_file():
            selection.files[name] = path
    if max_bytes is not None:
        check_size(selection, max_bytes)
    return selection


def refuse_unsafe_workdir(source: Path) -> None:
    """Refuse ``/``, the user's home, and any directory that holds the home, as a workdir (exit 2)."""
    real = source.resolve()
    user_home = Path.home().resolve()
    if not user_home.is_relative_to(real) and real != Path(real.anchor):
        return
    what = "a directory holding your home"
    if real == Path(real.anchor):
        what = "the filesystem root"
    elif real == user_home:
        what = "your home directory"
    raise InvalidInputError(
        f"code.workdir resolves to {real}, {what}: trainctl does not ship it",
        hint="point code.workdir at the project's directory (relative to the spec file)",
    )


def is_credential(name: str) -> bool:
    """Whether the path ``name`` (relative to the workdir) is, or lies in, a credential file or directory."""
    parts = name.split("/")
    if CREDENTIAL_DIRS.intersection(parts[:-1]) or parts[-1] in CREDENTIAL_DIRS:
        return True
    if any(f"/{p}/" in f"/{name}/" for p in CREDENTIAL_PATHS):
        return True
    return any(fnmatch.fnmatch(parts[-1], pattern) for pattern in CREDENTIAL_NAMES)


def check_size(selection: Selection, max_bytes: int) -> None:
    """InvalidInputError naming the largest files when the selection ships more than ``max_bytes``."""
    total = selection.total_bytes
    if total <= max_bytes:
        return
    sizes = sorted(((p.stat().st_size, name) for name, p in selection.files.items()), reverse=True)[:_LISTED]
    raise InvalidInputError(
        f"code.workdir {selection.source} holds {total / MB:.1f} MB to ship, over the limit of {max_bytes / MB:.0f} MB",
        details=[f"{size / MB:.1f} MB  {name}" for size, name in sizes],
        hint="leave data and outputs out of the workdir (.gitignore), or raise TRAINCTL_SNAPSHOT_MAX_MB",
    )


def _add_link(selection: Selection, name: str, path: Path, real_source: Path, real_home: Path, follow: bool) -> None:
    target = path.resolve()
    inside = target.is_relative_to(real_source) and not target.is_relative_to(real_home)
    if inside:
        relative = target.relative_to(real_source).as_posix()
        if is_credential(relative):
            selection.credentials.append(name)
        else:
            selection.links[name] = os.path.relpath(target, path.parent.resolve())
        return
    if not follow or target.is_relative_to(real_home):
        selection.skipped_links[name] = str(path.readlink())
        return
    _follow(selection, name, target, real_home)


def _follow(selection: Selection, name: str, target: Path, real_home: Path) -> None:
    """Ship what a link leaving the workdir points to (a file, or a directory's files), credentials aside."""
    if target.is_file():
        selection.files[name] = target
        return
    for root, dirs, files in os.walk(target):
        dirs[:] = [d for d in dirs if not (Path(root) / d).resolve().is_relative_to(real_home)]
        for file in files:
            real = Path(root) / file
            shipped = f"{name}/{real.relative_to(target).as_posix()}"
            if is_credential(shipped) or is_credential(real.relative_to(target).as_posix()):
                selection.credentials.append(shipped)
            elif stat.S_ISREG(real.lstat().st_mode):
                selection.files[shipped] = real


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def candidates(source: Path, *, home: Path | None = None) -> list[str]:
    """Relative paths of the files and symbolic links that may ship, sorted. Uses git in a work tree.

    The trainctl home (``home``, default ``$TRAINCTL_HOME``: state, the state passphrase, engines, other
    jobs' runs and artifacts) is never a candidate, whatever its name, when it lies inside ``source``.
    ``select_workdir`` decides which candidates ship, and how.
    """
    inside = _relative_inside(trainctl_home() if home is None else home, source)
    tracked = _git_files(source)
    names = tracked if tracked is not None else _walk(source, _gitignore_patterns(source), skip=inside)
    kept = (n for n in set(names) if not (set(Path(n).parts) & ALWAYS_SKIPPED) and not _under(n, inside))
    return sorted(n for n in kept if _is_entry(source / n))


def _is_entry(path: Path) -> bool:
    return path.is_symlink() or path.is_file()


def _relative_inside(path: Path, source: Path) -> str | None:
    """``path`` relative to ``source`` when it lies inside it, else None."""
    try:
        return path.resolve().relative_to(source.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _under(rel: str, directory: str | None) -> bool:
    return directory is not None and (directory == "." or rel == directory or rel.startswith(directory + "/"))


def _git_files(source: Path) -> list[str] | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return [p for p in result.stdout.decode().split("\0") if p]


def _gitignore_patterns(source: Path) -> list[str]:
    ignore = source / ".gitignore"
    if not ignore.is_file():
        return []
    lines = [ln.strip() for ln in ignore.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith(("#", "!"))]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        bare = pattern.strip("/")
        if pattern.startswith("/") or "/" in bare:
            if fnmatch.fnmatch(rel, bare) or rel.startswith(bare + "/"):
                return True
        elif any(fnmatch.fnmatch(part, bare) for part in parts):
            return True
    return False


def _walk(source: Path, patterns: list[str], *, skip: str | None = None) -> list[str]:
    files: list[str] = []
    for root, dirs, names in os.walk(source):
        rel_root = os.path.relpath(root, source)
        dirs[:] = [
            d
            for d in dirs
            if d not in ALWAYS_SKIPPED and not _ignored(_join(rel_root, d), patterns) and not _under(_join(rel_root, d), skip)
        ]
        files.extend(_join(rel_root, n) for n in names if not _ignored(_join(rel_root, n), patterns))
        links = [d for d in dirs if (Path(root) / d).is_symlink()]  # not walked into: a candidate like a file
        files.extend(_join(rel_root, d) for d in links)
    return files


def _join(root: str, name: str) -> str:
    return name if root == "." else f"{root}/{name}"
