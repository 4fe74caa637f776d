"""What a job ships from code.workdir: no `/` or home, no credential files, links by one rule, a size cap, modes kept.

The local snapshot and the AWS code bundle share one selection (``orchestrator.workdir``): each
rule is checked on both, and on what `plan`, `check` and `up` tell the user.
"""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from orchestrator.targets.aws.bundles import code_bundle
from orchestrator.targets.local.snapshot import copy_snapshot
from orchestrator.testing.harness import Trainctl, only_job
from orchestrator.workdir import select_workdir

SPEC = "name: ship-test\nteam: vision\nowner: alice@example.com\ncode:\n  workdir: {workdir}\n  run: python train.py\n"
CREDENTIALS = [".ssh/id_rsa", ".aws/credentials", ".gnupg/secring.gpg", ".kube/config", ".docker/config.json"]
CREDENTIALS += [".netrc", "deploy/server.pem", "keys/id_ed25519", "nested/.ssh/authorized_keys"]


def project(root: Path) -> Path:
    """A workdir with code, a private data file, a script, and every kind of credential file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text("print('train')\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o750)
    (root / "data.csv").write_text("1,2\n")
    (root / "data.csv").chmod(0o600)
    for name in CREDENTIALS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("SECRET-KEY-MATERIAL\n")
    return root


def spec_for(tmp_path: Path, workdir: str) -> str:
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC.format(workdir=workdir))
    return str(spec)


def bundle_members(source: Path, tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    """The AWS code bundle of ``source``, as archive members by name."""
    bundle = code_bundle(select_workdir(source), tmp_path / "bundles", write=True)
    with tarfile.open(fileobj=io.BytesIO(bundle.path.read_bytes())) as tar:
        return {m.name: m for m in tar.getmembers()}


def snapshot_of(source: Path, tmp_path: Path, **options: bool) -> Path:
    """The local snapshot of ``source``."""
    dest = tmp_path / "snapshot" / "work"
    copy_snapshot(select_workdir(source, **options), dest)
    return dest


@pytest.mark.parametrize("where", ["root", "home", "above-home"])
@pytest.mark.parametrize("command", [("check",), ("plan", "--offline")])
def test_root_and_home_are_refused(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, command: tuple[str, ...]
) -> None:
    """`/`, the user's home and a directory holding it are refused as workdir with exit 2 saying which."""
    home = tmp_path / "users" / "alice"
    project(home)
    monkeypatch.setenv("HOME", str(home))
    workdir = {"root": "/", "home": str(home), "above-home": str(home.parent)}[where]
    result = cli(command[0], spec_for(tmp_path, workdir), *command[1:])
    assert result.exit_code == 2, result.stderr
    said = {"root": "the filesystem root", "home": "your home directory", "above-home": "a directory holding your home"}
    assert f"{said[where]}: trainctl does not ship it" in result.stderr


def test_credential_files_never_ship_in_either_target(tmp_path: Path) -> None:
    """The local snapshot and the AWS bundle leave out every credential file and keep the code."""
    source = project(tmp_path / "project")
    local = snapshot_of(source, tmp_path)
    shipped_locally = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert shipped_locally == ["data.csv", "run.sh", "train.py"]
    assert sorted(bundle_members(source, tmp_path)) == ["data.csv", "run.sh", "train.py"]


@pytest.mark.parametrize("command", [("check",), ("plan", "--offline"), ("plan", "--offline", "--target", "aws")])
def test_plan_and_check_name_the_credential_files_left_out(cli, tmp_path: Path, command: tuple[str, ...]) -> None:
    """plan and check say which credential files were left out (a notice on stderr)."""
    project(tmp_path / "project")
    spec = spec_for(tmp_path, "project")
    if "aws" in command:
        Path(spec).write_text(Path(spec).read_text() + "resources:\n  instance_type: g5.xlarge\n")
    result = cli(command[0], spec, *command[1:])
    assert result.exit_code in (0, 3), result.stderr
    assert "left out 9 credential file(s): .aws/credentials, .docker/config.json" in result.stderr


def test_modes_are_kept(tmp_path: Path) -> None:
    """The bundle keeps each file's mode (0600 stays 0600, a script stays executable); the local copy keeps the owner's bits."""
    source = project(tmp_path / "project")
    members = bundle_members(source, tmp_path)
    assert members["data.csv"].mode == 0o600
    assert members["run.sh"].mode == 0o750
    local = snapshot_of(source, tmp_path)
    assert stat.S_IMODE((local / "run.sh").stat().st_mode) == 0o700
    assert stat.S_IMODE((local / "data.csv").stat().st_mode) == 0o600


def test_snapshot_size_is_capped_with_a_setting(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workdir over TRAINCTL_SNAPSHOT_MAX_MB exits 2 naming the limit, the size and the largest file."""
    source = project(tmp_path / "project")
    (source / "weights.bin").write_bytes(b"\0" * (3 * 1024 * 1024))
    monkeypatch.setenv("TRAINCTL_SNAPSHOT_MAX_MB", "2")
    result = cli("check", spec_for(tmp_path, "project"))
    assert result.exit_code == 2, result.stderr
    assert "over the limit of 2 MB" in result.stderr
    assert "weights.bin" in result.stderr
    assert "TRAINCTL_SNAPSHOT_MAX_MB" in result.stderr


@pytest.fixture
def linked(tmp_path: Path, trainctl_home: Path) -> Path:
    """A workdir with links: inside (relative and absolute), out of it, and into the trainctl home."""
    source = project(tmp_path / "project")
    (source / "lib").mkdir()
    (source / "lib" / "model.py").write_text("W = 1\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "notes.txt").write_text("outside the workdir\n")
    (trainctl_home / "passphrase").write_text("s3cret\n")
    (source / "model.py").symlink_to("lib/model.py")
    (source / "lib-link").symlink_to(source / "lib")  # absolute, but inside
    (source / "notes.txt").symlink_to(outside / "notes.txt")
    (source / "pass").symlink_to(trainctl_home / "passphrase")
    return source


def test_links_inside_are_kept_as_relative_links_in_both_targets(linked: Path, tmp_path: Path) -> None:
    """A link inside the workdir ships as a link, made relative; the bundle carries no absolute link."""
    local = snapshot_of(linked, tmp_path)
    assert (local / "model.py").is_symlink() and (local / "model.py").readlink() == Path("lib/model.py")
    assert (local / "lib-link").readlink() == Path("lib")
    assert (local / "model.py").read_text() == "W = 1\n"
    members = bundle_members(linked, tmp_path)
    assert members["model.py"].issym() and members["model.py"].linkname == "lib/model.py"
    assert members["lib-link"].linkname == "lib"
    assert not any(m.linkname.startswith("/") for m in members.values())


def test_links_leaving_the_workdir_are_skipped_in_both_targets(linked: Path, tmp_path: Path) -> None:
    """Links out of the workdir, or into the trainctl home, ship nothing in the snapshot or the bundle."""
    local = snapshot_of(linked, tmp_path)
    assert not (local / "notes.txt").exists() and not (local / "pass").exists()
    members = bundle_members(linked, tmp_path)
    assert "notes.txt" not in members and "pass" not in members
    assert "s3cret" not in "".join(p.read_text() for p in local.rglob("*") if p.is_file())


@pytest.mark.parametrize("command", [("check",), ("plan", "--offline")])
def test_plan_and_check_name_the_skipped_links(cli, linked: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    """plan and check name each link left out and the setting that follows them."""
    result = cli(command[0], spec_for(tmp_path, "project"), *command[1:])
    assert result.exit_code == 0, result.stderr
    assert "skipped 2 symbolic link(s) leaving the workdir: notes.txt -> " in result.stderr
    assert "pass -> " in result.stderr and "TRAINCTL_FOLLOW_WORKDIR_LINKS=true" in result.stderr


def test_following_links_is_explicit_and_never_reaches_the_home(linked: Path, tmp_path: Path) -> None:
    """With follow_links a link out of the workdir ships its content; a link into the trainctl home still does not."""
    local = snapshot_of(linked, tmp_path, follow_links=True)
    assert not (local / "notes.txt").is_symlink() and (local / "notes.txt").read_text() == "outside the workdir\n"
    assert not (local / "pass").exists()


def test_up_ships_no_credentials_and_says_so(tc: Trainctl, make_job, tmp_path: Path) -> None:
    """A local `up` leaves credential files and outside links out of the job's workdir and names them."""
    spec = make_job(steps=1)
    workdir = spec.parent
    (workdir / ".ssh").mkdir()
    (workdir / ".ssh" / "id_rsa").write_text("PRIVATE KEY\n")
    secret = tmp_path / "outside-secret"
    secret.write_text("PRIVATE KEY\n")
    (workdir / "key").symlink_to(secret)
    result = tc.run("up", str(spec), "--detach")
    assert result.returncode == 0, result.stderr
    assert "left out 1 credential file(s): .ssh/id_rsa" in result.stderr
    assert f"key -> {secret}" in result.stderr
    shipped = tc.home / "runs" / only_job(tc)["job_id"] / "work"
    assert (shipped / "trainer.py").is_file()
    assert not (shipped / ".ssh").exists() and not (shipped / "key").exists()
    tc.run("down", only_job(tc)["job_id"])
