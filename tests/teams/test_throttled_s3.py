"""A throttled team bucket: with 30% of S3 requests answered 503 SlowDown, every command still completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.testing.faults import FaultProxy, s3_slow_down
from orchestrator.testing.harness import wait_until, write_job
from tests.teams.conftest import TeamBackend

pytestmark = pytest.mark.engine
RATE = 0.3


@pytest.mark.timeout(1200)  # each throttled request costs the engine's SDK seconds of backoff
def test_every_operation_completes_with_30_percent_slow_down(team: TeamBackend, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """plan, up (detached and attached), status, ls, logs, cancel, down, recover, gc, cost: exit 0 through the throttling."""
    fault_proxy.clear()
    fault_proxy.add(s3_slow_down(rate=RATE))
    member = team.user(tmp_path / "home", AWS_ENDPOINT_URL=fault_proxy.url)
    detached = write_job(tmp_path, "throttled-detached", steps=6000, step_s=0.05)
    attached = write_job(tmp_path, "throttled-attached", steps=5, step_s=0.05)

    def ok(*args: str) -> str:
        started = time.monotonic()
        result = member.run(*args, timeout=400)
        took.append(f"{args[0]} {time.monotonic() - started:.1f}s")
        assert result.returncode == 0, f"{args} after {took}: {result.stderr[-2000:]}"
        return result.stdout

    took: list[str] = []
    ok("plan", str(detached))
    ok("up", "--detach", str(detached))
    job_id = member.json("ls")["jobs"][0]["job_id"]
    assert member.json("status", job_id)["state"] == "running"
    wait_until(lambda: "step" in ok("logs", job_id), timeout=60)
    ok("cancel", job_id)
    ok("up", str(attached))
    ok("recover", job_id)
    ok("down", job_id)
    ok("gc", "--dry-run")
    ok("cost")
    states = {row["name"]: row["state"] for row in member.json("ls")["jobs"]}
    assert states == {"throttled-detached": "cancelled", "throttled-attached": "succeeded"}
    throttled, seen = fault_proxy.count("S3", "throttle"), fault_proxy.count("S3")
    assert throttled >= 10, f"the proxy must really have throttled S3 requests ({throttled} of {seen}; {took})"
    fault_proxy.clear()
