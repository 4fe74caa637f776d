"""SIGINT/SIGTERM during an attached `up`: graceful stop, nothing stale, artifacts kept, resumable."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.inspect import engine_locks, job_processes, live_resources, pending_operations


def _collect(stream, lines: list[str]) -> threading.Thread:  # type: ignore[no-untyped-def]
    def pump() -> None:
        for line in iter(stream.readline, ""):
            lines.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _interrupt(tc: Trainctl, spec: Path, when: Callable[[Trainctl, list[str]], bool], signum: int) -> tuple[int, str]:
    proc = tc.start("up", str(spec))
    err: list[str] = []
    out: list[str] = []
    threads = [_collect(proc.stderr, err), _collect(proc.stdout, out)]
    wait_until(lambda: when(tc, err) or proc.poll() is not None, timeout=60, interval=0.02)
    assert proc.poll() is None, "up ended before the signal point: " + "".join(err)
    proc.send_signal(signum)
    code = proc.wait(timeout=90)
    for thread in threads:
        thread.join(timeout=5)
    return code, "".join(err) + "".join(out)


def _record_state(tc: Trainctl, state: str) -> bool:
    return any(j["state"] == state for j in tc.jobs())


POINTS: dict[str, Callable[[Trainctl, list[str]], bool]] = {
    "before-allocation": lambda tc, err: _record_state(tc, "provisioning"),
    "during-allocation": lambda tc, err: any("workdir creating" in line for line in err),
    "after-allocation": lambda tc, err: (
        _record_state(tc, "running") and any((tc.home / "artifacts").glob("*/checkpoints/step-*.json"))
    ),
}


@pytest.mark.parametrize("point", sorted(POINTS))
def test_sigint_during_up_stops_cleanly(tc: Trainctl, make_job, point: str) -> None:
    """SIGINT at any point of `up` exits 130 with no stale lock, no pending op; `down` leaves nothing running."""
    spec = make_job(steps=400, step_s=0.05)
    code, output = _interrupt(tc, spec, POINTS[point], signal.SIGINT)
    assert code == 130, output
    job = only_job(tc)
    job_id = job["job_id"]
    assert job["state"] == "interrupted", job
    assert tc.json("status", job["job_id"])["next"].startswith(f"trainctl up {spec} ")
    assert engine_locks(tc.home) == [], output
    assert pending_operations(tc.home, job_id) == []
    assert live_resources(tc.home, job_id) == [], output
    down = tc.run("down", job_id)
    assert down.returncode == 0, down.stderr
    assert job_processes(job_id) == []
    assert not (tc.home / "runs" / job_id).exists()
    if point == "after-allocation":
        assert "SIGTERM at step" in (tc.home / "artifacts" / job_id / "logs" / "output.log").read_text()


def test_sigterm_exits_143_and_up_again_resumes(tc: Trainctl, make_job) -> None:
    """SIGTERM after allocation exits 143 with a final checkpoint; `up` again resumes that job from it."""
    spec = make_job(steps=160, step_s=0.05)  # 8 s: long enough never to finish during the teardown
    code, output = _interrupt(tc, spec, POINTS["after-allocation"], signal.SIGTERM)
    assert code == 143, output
    job_id = only_job(tc)["job_id"]
    checkpoints = sorted(p.name for p in (tc.home / "artifacts" / job_id / "checkpoints").iterdir())
    newest = int(checkpoints[-1][5:9])
    again = tc.run("up", str(spec))
    assert again.returncode == 0, again.stderr
    assert f"resuming job {job_id}" in again.stderr
    assert f"trainer start={newest} " in again.stdout
    assert only_job(tc)["state"] == "succeeded"


def test_second_signal_skips_waiting_and_recover_clears_the_rest(tc: Trainctl, make_job) -> None:
    """Two SIGINTs: the second ends trainctl's waiting (exit 130); `recover` then leaves no lock, no pending op, no process."""
    spec = make_job(steps=4000, step_s=0.05, env={"IGNORE_SIGTERM": "1"})  # the stop waits out the whole grace period
    proc = tc.start("up", str(spec), env={"TRAINCTL_GRACE_PERIOD_S": "30"})
    err: list[str] = []
    _collect(proc.stderr, err)
    _collect(proc.stdout, [])
    wait_until(lambda: POINTS["after-allocation"](tc, err) or proc.poll() is not None, timeout=60, interval=0.02)
    assert proc.poll() is None, "up ended before the first signal: " + "".join(err)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: proc.poll() is not None or any("stopping job" in line for line in err), timeout=30, interval=0.02)
    assert proc.poll() is None, "the first signal's teardown ended before the second signal: " + "".join(err)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    assert code == 130, "".join(err)
    job_id = only_job(tc)["job_id"]
    recovered = tc.run("recover", job_id)
    assert recovered.returncode == 0, recovered.stderr
    assert engine_locks(tc.home) == []
    assert pending_operations(tc.home, job_id) == []
    assert live_resources(tc.home, job_id) == [], recovered.stdout + recovered.stderr
    assert job_processes(job_id) == []
    assert not (tc.home / "runs" / job_id).exists()


def test_concurrent_up_gets_exit_4_naming_the_holder(tc: Trainctl, make_job) -> None:
    """While one `up` allocates, a second `up`, `cancel` or `down` of that job exits 4 naming pid and host."""
    spec = make_job(steps=5)
    first = tc.start("up", str(spec), "--detach")
    wait_until(lambda: _record_state(tc, "provisioning") or first.poll() is not None, interval=0.02)
    first.send_signal(signal.SIGSTOP)  # frozen mid-allocation: it holds the job's locks until the test lets it go
    try:
        assert _record_state(tc, "provisioning"), "the first `up` was no longer allocating when the test froze it"
        second = tc.run("up", str(spec))
        job_id = only_job(tc)["job_id"]
        cancel = tc.run("cancel", job_id)
        down = tc.run("down", job_id)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=60) == 0
    for other in (second, cancel, down):
        assert other.returncode == 4, other.stderr
        assert f"pid {first.pid}" in other.stderr
    assert len(tc.jobs()) == 1
    wait_until(lambda: tc.record(job_id)["torn_down"], timeout=60)
