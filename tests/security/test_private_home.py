"""Everything trainctl creates under $TRAINCTL_HOME is private to the user: directories 0700, files 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from orchestrator.testing.harness import Trainctl, only_job, wait_until


def open_to_others(home: Path) -> list[str]:
    """Every file or directory under ``home`` (itself included) that group or others may use."""
    found = []
    for path in [home, *home.rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        if stat.S_IMODE(info.st_mode) & 0o077:
            found.append(f"{path.relative_to(home.parent)} {stat.S_IMODE(info.st_mode):04o}")
    return found


def test_a_local_job_leaves_nothing_readable_by_others(tc: Trainctl, make_job) -> None:
    """While a local job runs and after it is down, no path under the home is open to group or others.

    The home starts 0755 (as an older trainctl, or a umask of 022, left it) and is tightened; state,
    records, logs, checkpoints, the snapshot, locks and the passphrase are all created private.
    """
    tc.home.chmod(0o755)
    result = tc.run("up", str(make_job(steps=300, step_s=0.1)), "--detach")
    assert result.returncode == 0, result.stderr
    job_id = only_job(tc)["job_id"]
    wait_until(lambda: list((tc.home / "artifacts" / job_id / "checkpoints").glob("*")))
    assert (tc.home / "runs" / job_id).is_dir() and (tc.home / "passphrase").is_file()
    assert open_to_others(tc.home) == []
    assert tc.run("down", job_id).returncode == 0
    assert open_to_others(tc.home) == []
