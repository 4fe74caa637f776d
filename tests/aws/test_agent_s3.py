"""The agent with the S3 store (moto): checkpoint sync, status, outputs, resume on a fresh machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.s3store import MARKER, S3Store
from orchestrator.agent.supervisor import Supervisor
from orchestrator.cloud import aws
from orchestrator.testing.moto_server import MotoServer
from orchestrator.testing.scripts import THREE_STEP_TRAINER

pytestmark = pytest.mark.moto
BUCKET = "trainctl-agent-test"


@pytest.fixture
def bucket(moto: MotoServer) -> Any:
    s3 = aws.client("s3", region="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return s3


def _config(tmp_path: Path, machine: str, **overrides: Any) -> AgentConfig:
    workdir = tmp_path / machine
    workdir.mkdir()
    (workdir / "train.py").write_text(THREE_STEP_TRAINER)
    values: dict[str, Any] = {
        "job_id": "agent-test-abc123",
        "workdir": str(workdir),
        "run": f"{sys.executable} train.py",
        "store_url": f"s3://{BUCKET}/run",
        "sync_interval_s": 0.2,
        "heartbeat_s": 0.2,
        "keep_last": 2,
        "grace_period_s": 2.0,
        **overrides,
    }
    return AgentConfig(**values)


def _keys(s3: Any, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_supervisor_syncs_checkpoints_and_status_to_s3(bucket: Any, tmp_path: Path) -> None:
    """A run's checkpoints (newest keep_last), final status and outputs land in S3."""
    code = Supervisor(_config(tmp_path, "machine-1"), S3Store(f"s3://{BUCKET}/run")).run()
    assert code == 0
    status = json.loads(bucket.get_object(Bucket=BUCKET, Key="run/status.json")["Body"].read())
    assert status["state"] == "succeeded" and status["exit_code"] == 0
    assert status["newest_checkpoint"] == "step-0002"
    assert _keys(bucket, "run/checkpoints/") == [
        f"run/checkpoints/step-0001/{MARKER}",
        "run/checkpoints/step-0001/weights.txt",
        f"run/checkpoints/step-0002/{MARKER}",
        "run/checkpoints/step-0002/weights.txt",
    ]
    assert json.loads(bucket.get_object(Bucket=BUCKET, Key="run/outputs/metrics.json")["Body"].read()) == {"loss": 0.1}


def test_a_relaunched_agent_resumes_from_the_newest_checkpoint_in_s3(bucket: Any, tmp_path: Path) -> None:
    """A second machine with an empty workdir restores the newest S3 checkpoint and continues from it."""
    assert Supervisor(_config(tmp_path, "machine-1"), S3Store(f"s3://{BUCKET}/run")).run() == 0
    second = _config(tmp_path, "machine-2")
    assert Supervisor(second, S3Store(f"s3://{BUCKET}/run")).run() == 0
    output = (Path(second.workdir) / ".trainctl" / "output.log").read_text()
    assert "resume from step-0002" in output
    assert (Path(second.workdir) / "checkpoints" / "step-0002" / "weights.txt").read_text() == "2"
    status = json.loads(bucket.get_object(Bucket=BUCKET, Key="run/status.json")["Body"].read())
    assert status["newest_checkpoint"] == "step-0005"
    assert [k for k in _keys(bucket, "run/checkpoints/") if k.endswith("weights.txt")] == [
        "run/checkpoints/step-0004/weights.txt",
        "run/checkpoints/step-0005/weights.txt",
    ]


def test_status_is_written_while_the_run_is_going(bucket: Any, tmp_path: Path) -> None:
    """`python -m orchestrator.agent` with an s3:// store heartbeats a running status before it finishes."""
    config = _config(tmp_path, "machine-1")
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(asdict(config)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    agent = subprocess.Popen([sys.executable, "-m", "orchestrator.agent", str(path)], env=env, cwd=config.workdir)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while agent.poll() is None and time.monotonic() < deadline:
            text = S3Store(f"s3://{BUCKET}/run").read_text("status.json")
            if text:
                seen.append(json.loads(text)["state"])
            time.sleep(0.1)
        assert agent.wait(timeout=30) == 0
    finally:
        agent.kill()
    assert "running" in seen
    final = json.loads(S3Store(f"s3://{BUCKET}/run").read_text("status.json") or "{}")
    assert final["state"] == "succeeded" and final["newest_checkpoint"] == "step-0002"


def test_store_lists_only_complete_directories_and_keeps_mtimes(bucket: Any, tmp_path: Path) -> None:
    """A directory without its completion marker is invisible; a restored file keeps its modification time."""
    store = S3Store(f"s3://{BUCKET}/job")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "a.bin").write_bytes(b"a" * 10)
    os.utime(ckpt / "a.bin", (1_000_000.0, 1_000_000.0))
    store.put_path(ckpt / "a.bin", "checkpoints/a.bin")
    store.put_path(ckpt, "checkpoints/dir-1")
    bucket.put_object(Bucket=BUCKET, Key="job/checkpoints/partial/x.bin", Body=b"x")
    names = {name: mtime for name, mtime in store.list_dir("checkpoints")}
    assert set(names) == {"a.bin", "dir-1"}
    assert names["a.bin"] == 1_000_000.0
    store.get_path("checkpoints/a.bin", tmp_path / "restored.bin")
    assert (tmp_path / "restored.bin").stat().st_mtime == 1_000_000.0
    store.get_path("checkpoints/dir-1", tmp_path / "restored-dir")
    assert (tmp_path / "restored-dir" / "a.bin").read_bytes() == b"a" * 10
    store.delete("checkpoints/dir-1")
    assert {name for name, _ in store.list_dir("checkpoints")} == {"a.bin"}
    assert store.read_text("missing.json") is None


def test_status_writes_are_best_effort_when_s3_is_unreachable(tmp_path: Path) -> None:
    """A failed status write is reported and remembered, never raised into the supervisor."""
    dead = aws.client("s3", region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1, use_settings=False)
    store = S3Store(f"s3://{BUCKET}/run", client=dead)
    store.write_text("status.json", "{}")
    assert store.last_error is not None
    with pytest.raises(OSError):
        store.put_path(tmp_path, "checkpoints/x")
