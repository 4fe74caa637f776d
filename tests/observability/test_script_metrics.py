"""Training metrics from the script (TRAINCTL_METRICS_FILE): read incrementally by the agent, shown by `status`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from orchestrator.agent import procs
from orchestrator.agent.config import AgentConfig
from orchestrator.agent.script_metrics import MAX_NAMES, ScriptMetrics
from orchestrator.agent.store import LocalStore
from orchestrator.agent.supervisor import Supervisor
from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.query import script_metrics


def _append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(text.encode() if isinstance(text, str) else text)


def test_newest_value_of_each_name_wins_across_polls(tmp_path: Path) -> None:
    """Values from later lines replace earlier ones; names only seen earlier keep their value."""
    path = tmp_path / "m.jsonl"
    reader = ScriptMetrics(path)
    assert reader.poll(1.0) is False and reader.newest == {}  # no file yet: nothing, no error
    _append(path, '{"step": 1, "loss": 0.9, "accuracy": 0.5}\n{"step": 2, "loss": 0.7}\n')
    assert reader.poll(2.0) is True
    assert reader.newest == {"step": 2.0, "loss": 0.7, "accuracy": 0.5}
    _append(path, '{"step": 3, "loss": 0.4}\n')
    reader.poll(3.0)
    assert reader.newest == {"step": 3.0, "loss": 0.4, "accuracy": 0.5} and reader.updated_at == 3.0


def test_a_line_still_being_written_is_read_once_it_is_whole(tmp_path: Path) -> None:
    """Only complete lines count: half a line waits for its newline, then is read."""
    path = tmp_path / "m.jsonl"
    reader = ScriptMetrics(path)
    _append(path, '{"loss": 0.5}\n{"loss": 0.')
    reader.poll(1.0)
    assert reader.newest == {"loss": 0.5} and reader.skipped == 0
    _append(path, "25}\n")
    reader.poll(2.0)
    assert reader.newest == {"loss": 0.25} and reader.skipped == 0


def test_malformed_lines_are_skipped_with_one_warning(tmp_path: Path) -> None:
    """Bad JSON, a non-object, a string value and invalid bytes are skipped and counted; one warning names the first."""
    path = tmp_path / "m.jsonl"
    reader = ScriptMetrics(path)
    _append(path, '{"loss": 0.5}\nnot json\n[1, 2]\n{"loss": 0.4, "phase": "train", "ok": true}\n')
    _append(path, b'\xff\xfe\n{"loss": 0.3}\n')
    reader.poll(1.0)
    assert reader.newest == {"loss": 0.3}
    assert reader.skipped == 5  # "not json", the list, "phase", the boolean, the bytes
    warning = reader.take_warning()
    assert warning is not None and "line 2 is not JSON" in warning and "TRAINCTL_METRICS_FILE" in warning
    assert reader.take_warning() is None  # once only
    _append(path, "garbage\n")
    reader.poll(2.0)
    assert reader.take_warning() is None and reader.skipped == 6


def test_the_number_of_names_is_bounded(tmp_path: Path) -> None:
    """A script reporting ever new names gets at most MAX_NAMES of them; known names keep updating."""
    path = tmp_path / "m.jsonl"
    reader = ScriptMetrics(path)
    _append(path, json.dumps({f"m{i}": i for i in range(MAX_NAMES + 10)}) + "\n")
    _append(path, '{"m0": -1}\n')
    reader.poll(1.0)
    assert len(reader.newest) == MAX_NAMES and reader.newest["m0"] == -1.0 and reader.skipped == 10


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    """A script that rewrites its metrics file (shorter) is followed from the new file's start."""
    path = tmp_path / "m.jsonl"
    reader = ScriptMetrics(path)
    _append(path, '{"loss": 0.9}\n' * 10)
    reader.poll(1.0)
    path.write_text('{"loss": 0.1}\n')
    reader.poll(2.0)
    assert reader.newest == {"loss": 0.1}


SCRIPT = """
import json, os, time
path = os.environ["TRAINCTL_METRICS_FILE"]
with open(path, "a") as f:
    f.write(json.dumps({"step": 1, "loss": 0.8}) + "\\n")
    f.write("this is not json\\n")
    f.flush()
    time.sleep(0.5)
    f.write(json.dumps({"step": 2, "loss": 0.6, "accuracy": 0.7}) + "\\n")
    f.write("{broken\\n")
    f.flush()
    time.sleep(0.5)
    f.write(json.dumps({"step": 3, "loss": 0.5}) + "\\n")
print("trained", flush=True)
"""


def test_the_agent_puts_the_newest_metrics_in_its_status_and_survives_bad_lines(tmp_path: Path) -> None:
    """A run with malformed metric lines succeeds; status.json has the newest values, the log one warning."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "train.py").write_text(SCRIPT)
    store_dir = tmp_path / "store"
    config = AgentConfig(
        job_id="metrics-abc123",
        workdir=str(workdir),
        run=f"{sys.executable} train.py",
        store_url=f"file://{store_dir}",
        heartbeat_s=0.1,
    )
    assert Supervisor(config, LocalStore(store_dir)).run() == 0
    status = json.loads((store_dir / "status.json").read_text())
    assert status["state"] == "succeeded"
    assert status["metrics"] == {"step": 3.0, "loss": 0.5, "accuracy": 0.7}
    assert status["metrics_skipped"] == 2
    output = (store_dir / "logs" / "output.log").read_text()
    assert output.count("[trainctl] warning: TRAINCTL_METRICS_FILE") == 1 and "trained" in output
    kept = (store_dir / "metrics.jsonl").read_text().splitlines()
    assert len(kept) == 5  # the script's whole file is kept with the artifacts


def _record(home: Path, job_id: str, **fields: Any) -> JobRecord:
    record = JobRecord(
        job_id=job_id,
        name=job_id.rsplit("-", 1)[0],
        team="vision",
        owner="a@example.com",
        target="local",
        created=time.time() - 60,
        started_at=time.time() - 50,
        outputs={"artifacts": f"file://{home / 'artifacts' / job_id}"},
        **fields,
    )
    Ledger.for_home(home).save(record)
    return record


def _agent_status(home: Path, job_id: str, metrics: dict[str, float]) -> None:
    """A live agent's status (this test process stands in for the agent)."""
    artifacts = home / "artifacts" / job_id
    artifacts.mkdir(parents=True)
    status = {
        "state": "running",
        "pid": os.getpid(),
        "start_ticks": procs.start_ticks(os.getpid()),
        "updated_at": time.time(),
        "metrics": metrics,
    }
    (artifacts / "status.json").write_text(json.dumps(status))


def test_status_shows_a_running_jobs_newest_script_metrics(cli: Any, trainctl_home: Path) -> None:
    """`status JOB` (json and text) carries the live metrics of a running job's agent."""
    _record(trainctl_home, "live-abc123", state="running")
    _agent_status(trainctl_home, "live-abc123", {"step": 40.0, "loss": 0.25})
    result = cli("status", "live-abc123", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["metrics"] == {"step": 40.0, "loss": 0.25}
    text = cli("status", "live-abc123")
    assert text.exit_code == 0 and "step=40.0, loss=0.25" in text.stdout
    assert script_metrics(Runtime(), "live-abc123") == {"step": 40.0, "loss": 0.25}


def test_an_ended_jobs_metrics_come_from_its_record(cli: Any, trainctl_home: Path) -> None:
    """A finished job keeps the newest metrics in its record: `status` and script_metrics return them."""
    _record(trainctl_home, "done-abc123", state="succeeded", ended_at=time.time(), metrics={"loss": 0.125})
    result = cli("status", "done-abc123", "--output", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["metrics"] == {"loss": 0.125}
    assert script_metrics(Runtime(), "done") == {"loss": 0.125}  # by name: its newest job
    assert script_metrics(Runtime(), "done-abc123") == {"loss": 0.125}


def test_the_quickstart_reports_loss_and_accuracy_into_status(tc: Any, tmp_path: Path) -> None:
    """The quickstart's per-epoch metrics reach the job: after `up`, `status` shows the last epoch's loss and accuracy."""
    import shutil

    from orchestrator.testing.harness import only_job

    example = tmp_path / "quickstart"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "quickstart", example)
    result = tc.run("up", str(example / "job.yaml"))
    assert result.returncode == 0, result.stderr
    job = only_job(tc)
    metrics = tc.json("status", job["job_id"])["metrics"]
    assert metrics["epoch"] == 8.0
    assert 0.0 < metrics["loss"] < 0.7 and 0.5 < metrics["accuracy"] <= 1.0
    lines = (tc.home / "artifacts" / job["job_id"] / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 9))
