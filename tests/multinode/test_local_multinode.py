"""Multi-node jobs on the local target, end to end with the real engine and examples/multinode (PyTorch gloo).

Needs Debian's python3-torch for /usr/bin/python3: `bash tests/deps/torch.sh` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agent.procs import scan, session_members
from orchestrator.testing import json_contract
from orchestrator.testing.harness import Trainctl, only_job, wait_until
from orchestrator.testing.inspect import job_processes, live_resources

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multinode"


@pytest.fixture(scope="module")
def torch_python() -> str:
    """/usr/bin/python3 with torch and gloo, or a failure naming the script that installs them."""
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", "import torch.distributed as d; assert d.is_gloo_available()"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.fail("PyTorch (python3-torch for /usr/bin/python3) is missing: run `bash tests/deps/torch.sh`")
    return "/usr/bin/python3"


def _example(tmp_path: Path, *, epochs: int, step_s: float = 0.0, nodes: int = 2) -> Path:
    """A copy of examples/multinode with fewer epochs (and a pause per step, to interrupt it mid-run)."""
    workdir = tmp_path / "multinode"
    shutil.copytree(EXAMPLE, workdir)
    spec = workdir / "job.yaml"
    text = spec.read_text().replace('EPOCHS: "12"', f'EPOCHS: "{epochs}"\n  STEP_SECONDS: "{step_s}"')
    spec.write_text(text.replace("nodes: 2", f"nodes: {nodes}"))
    return spec


def _final_weights(tc: Trainctl, job_id: str, rank: int) -> dict[str, Any]:
    artifacts = tc.home / "artifacts" / job_id
    path = artifacts / ("outputs" if rank == 0 else f"nodes/{rank}/outputs") / "final-weights.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _newest_epoch(tc: Trainctl, job_id: str) -> int:
    """The newest epoch whose checkpoint rank 0 has synced to the artifact store (0: none yet; older ones are pruned)."""
    directory = tc.home / "artifacts" / job_id / "checkpoints"
    epochs = [int(p.stem.split("-")[1]) for p in directory.glob("epoch-*.pt")] if directory.is_dir() else []
    return max(epochs, default=0)


def _node_worker(job_id: str, rank: int) -> int | None:
    """The training process (train.py under torchrun) of node ``rank``."""
    needle = f"TRAINCTL_JOB_ID={job_id}".encode()
    for pid, argv in scan("cmdline"):
        if not any(arg.endswith(b"train.py") for arg in argv) or b"torch.distributed.run" in argv:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ and f"TRAINCTL_NODE_RANK={rank}".encode() in environ:
            return pid
    return None


def _checked_json(tc: Trainctl, *args: str) -> dict[str, Any]:
    """``trainctl *args -o json``, checked against the command's schema in docs/json."""
    result = tc.run(*args, "--output", "json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json_contract.check_document(args, result.stdout, 0)
    return document


def _assert_nothing_left(tc: Trainctl, job_id: str) -> None:
    assert job_processes(job_id) == []  # no process of either node survives teardown
    assert live_resources(tc.home, job_id) == []
    assert not (tc.home / "runs" / job_id).exists() and not (tc.home / "runs" / f"{job_id}.node-1").exists()


def test_two_node_job_completes_with_the_same_weights_on_both_ranks(tc: Trainctl, tmp_path: Path, torch_python: str) -> None:
    """2 nodes train with DDP over gloo: exit 0, both ranks end with identical weights, logs per node, nothing left."""
    result = tc.run("up", str(_example(tmp_path, epochs=3)), timeout=300)
    assert result.returncode == 0, result.stderr
    job = only_job(tc)
    job_id = job["job_id"]
    assert job["state"] == "succeeded"
    rank0, rank1 = _final_weights(tc, job_id, 0), _final_weights(tc, job_id, 1)
    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["sha256"] == rank1["sha256"] and rank0["weights"] == rank1["weights"]
    node1 = tc.run("logs", job_id, "--node", "1")
    assert node1.returncode == 0 and f"rank 1 (node 1): final weights sha256 {rank1['sha256']}" in node1.stdout
    assert "rank 1" not in tc.run("logs", job_id).stdout  # the default is rank 0's output
    both = tc.run("logs", job_id, "--node", "all").stdout.splitlines()
    assert any(line.startswith("[node 0] ") and "epoch 3/3" in line for line in both)
    assert any(line.startswith("[node 1] ") and "rank 1 of 2" in line for line in both)
    missing = tc.run("logs", job_id, "--node", "2")
    assert missing.returncode == 2 and "has no node 2" in missing.stderr
    _assert_nothing_left(tc, job_id)


def test_killing_node_1_restarts_both_nodes_from_the_checkpoint(tc: Trainctl, tmp_path: Path, torch_python: str) -> None:
    """SIGKILL to node 1's training process mid-run: both nodes restart, resume from rank 0's checkpoint, and finish."""
    up = tc.start("up", str(_example(tmp_path, epochs=10, step_s=0.1)))
    try:
        job_id = wait_until(lambda: (tc.jobs() or [{}])[0].get("job_id"), timeout=60)
        wait_until(lambda: _newest_epoch(tc, job_id) >= 2, 180)
        victim = wait_until(lambda: _node_worker(job_id, 1), timeout=30)
        os.kill(victim, signal.SIGKILL)
        _, stderr = up.communicate(timeout=300)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, stderr
    assert only_job(tc)["state"] == "succeeded"
    for node in ("0", "1"):
        log = tc.run("logs", job_id, "--node", node).stdout
        assert f"(node {node}): resumed from epoch-" in log, log
    rank0 = tc.run("logs", job_id).stdout
    assert "restarting every node (restart 1/1)" in rank0
    status = json.loads((tc.home / "artifacts" / job_id / "status.json").read_text())
    assert (status["state"], status["attempts"], status["failures"]) == ("succeeded", 2, 1)
    assert _final_weights(tc, job_id, 0)["sha256"] == _final_weights(tc, job_id, 1)["sha256"]
    _assert_nothing_left(tc, job_id)


def test_cancel_stops_both_nodes(tc: Trainctl, tmp_path: Path, torch_python: str) -> None:
    """A detached 2-node job: status shows both nodes running; cancel stops both; no process of either survives."""
    started = tc.run("up", str(_example(tmp_path, epochs=200, step_s=0.05)), "--detach", timeout=120)
    assert started.returncode == 0, started.stderr
    job_id = only_job(tc)["job_id"]
    wait_until(lambda: _node_worker(job_id, 0) and _node_worker(job_id, 1), timeout=120)

    def both_running() -> list[dict[str, Any]] | None:
        nodes: list[dict[str, Any]] = _checked_json(tc, "status", job_id).get("nodes") or []
        return nodes if [(n["rank"], n["state"]) for n in nodes] == [(0, "running"), (1, "running")] else None

    nodes = wait_until(both_running, timeout=60)
    assert all(n["heartbeat_age_s"] is not None for n in nodes)
    shown = tc.run("status", job_id)
    assert "NODE" in shown.stdout and "HEARTBEAT AGE S" in shown.stdout
    top = next(row for row in _checked_json(tc, "top")["jobs"] if row["job_id"] == job_id)
    assert [node["rank"] for node in top["nodes"]] == [0, 1]
    assert "node 1" in tc.run("top").stdout
    cancelled = tc.run("cancel", job_id, timeout=180)
    assert cancelled.returncode == 0, cancelled.stderr
    job = only_job(tc)
    assert job["state"] == "cancelled" and job["torn_down"] is True
    _assert_nothing_left(tc, job_id)


def test_a_lost_node_relaunches_the_whole_job_from_the_checkpoint(tc: Trainctl, tmp_path: Path, torch_python: str) -> None:
    """Node 1's whole session (agent and run) is killed: rank 0 stops, the job is relaunched as a whole and resumes."""
    up = tc.start("up", str(_example(tmp_path, epochs=10, step_s=0.1)))
    try:
        job_id = wait_until(lambda: (tc.jobs() or [{}])[0].get("job_id"), timeout=60)
        artifacts = tc.home / "artifacts" / job_id
        wait_until(lambda: _newest_epoch(tc, job_id) >= 2, 180)
        agent = json.loads((artifacts / "nodes" / "1" / "status.json").read_text())["pid"]
        for pid in session_members(agent):  # the node is gone: its agent and everything it ran
            os.kill(pid, signal.SIGKILL)
        _, stderr = up.communicate(timeout=300)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, stderr
    assert "lost node 1/1: resume from" in stderr
    job = only_job(tc)
    assert (job["state"], job["preemptions"]) == ("succeeded", 1)
    for node in ("0", "1"):
        assert f"(node {node}): resumed from epoch-" in tc.run("logs", job_id, "--node", node).stdout
    assert _final_weights(tc, job_id, 0)["sha256"] == _final_weights(tc, job_id, 1)["sha256"]
    _assert_nothing_left(tc, job_id)
