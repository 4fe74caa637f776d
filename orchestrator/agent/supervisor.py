"""The supervision loop: setup, run, heartbeat, checkpoint sync, limits, signals, restarts.

Status lives in the store as ``status.json`` (rewritten every heartbeat): that is how trainctl, or the
monitor on AWS, learns the run's state even when the agent is on another machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, Any

from orchestrator.agent import procs
from orchestrator.agent.checkpoints import CheckpointSync, restore_newest
from orchestrator.agent.config import AgentConfig
from orchestrator.agent.environment import run_environment
from orchestrator.agent.script_metrics import ENV_NAME as METRICS_ENV
from orchestrator.agent.script_metrics import FILE_NAME as METRICS_FILE_NAME
from orchestrator.agent.script_metrics import ScriptMetrics
from orchestrator.agent.store import Store
from orchestrator.vocabulary import RunState

TICK_S = 0.1
OUTPUT_KEY = "logs/output.log"
STATUS_KEY = "status.json"
METRICS_KEY = "metrics.jsonl"  # the script's metrics file, kept with the job's artifacts when the run ends
OUTPUTS_PREFIX = "outputs"

InterruptionCheck = Callable[[], bool]


class Supervisor:
    """Runs one job's commands to an end state, writing status as it goes."""

    def __init__(self, config: AgentConfig, store: Store, *, interruption: InterruptionCheck | None = None) -> None:
        self.cfg = config
        self.store = store
        self.workdir = Path(config.workdir)
        self.ckpt_dir = self.workdir / config.checkpoint_path
        self.outputs_dir = self.workdir / ".trainctl" / "outputs"
        self.sync = CheckpointSync(self.ckpt_dir, store, config.keep_last)
        self.metrics = ScriptMetrics(self.workdir / ".trainctl" / METRICS_FILE_NAME)
        self._log: IO[bytes] | None = None
        self.interruption = interruption
        self.stop_reason: str | None = None
        self.started_at = config.started_at or time.time()
        self.deadline, self.deadline_reason = config.deadline(self.started_at)
        self.status: dict[str, Any] = {
            "job_id": config.job_id,
            "state": RunState.STARTING,
            "pid": os.getpid(),
            "start_ticks": procs.start_ticks(os.getpid()),  # with the pid, who the agent is (pids get reused)
            "host": socket.gethostname(),
            "started_at": self.started_at,
            "attempts": 0,
            "failures": 0,
            "hourly_usd": config.hourly_usd,
        }
        self._last_beat = 0.0
        self._last_sync = time.monotonic()
        self._child: subprocess.Popen[bytes] | None = None

    # -- public -----------------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise to an end state; return the agent's exit code (0 success, else the run's)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.outputs_dir.mkdir(parents=True, exist_ok=True)
        self._write_status(state=RunState.RUNNING)
        with self._output() as log:
            self._log = log
            code = self._run_all(log)
        return code

    # -- phases -----------------------------------------------------------------------------------
    def _run_all(self, log: IO[bytes]) -> int:
        if self.deadline is not None and time.time() >= self.deadline:
            # Earlier runs of this job used up its max_runtime or budget: nothing is started.
            self._line(log, f"[trainctl] {self.deadline_reason} already used up by earlier runs of this job")
            return self._finish(RunState.FAILED, 1, reason=self.deadline_reason or "limit")
        if self.cfg.setup:
            code = self._supervise(self.cfg.setup, log, resume_from=None)
            if code != 0:
                return self._finish(
                    RunState.FAILED if self.stop_reason is None else RunState.STOPPED,
                    code,
                    reason=self.stop_reason or "setup failed",
                )
        while True:
            resume = restore_newest(self.store, self.ckpt_dir)
            self.status["attempts"] += 1
            code = self._supervise(self.cfg.run, log, resume_from=resume)
            self._sync_now()
            if code == 0 and self.stop_reason is None:
                return self._finish(RunState.SUCCEEDED, 0, reason="exit 0")
            if self.stop_reason is not None:
                final = RunState.FAILED if self.stop_reason in ("max_runtime", "budget") else RunState.STOPPED
                return self._finish(final, code, reason=self.stop_reason)
            if self.status["failures"] >= self.cfg.max_failures:
                return self._finish(RunState.FAILED, code, reason=f"exit {code}")
            self.status["failures"] += 1
            self._line(log, f"[trainctl] run exited {code}; restart {self.status['failures']}/{self.cfg.max_failures}")

    def _supervise(self, command: str, log: IO[bytes], *, resume_from: Path | None) -> int:
        contract = {
            "TRAINCTL_JOB_ID": self.cfg.job_id,
            "TRAINCTL_CHECKPOINT_DIR": str(self.ckpt_dir),
            "TRAINCTL_RESUME_FROM": str(resume_from) if resume_from else "",
            "TRAINCTL_ARTIFACT_DIR": str(self.outputs_dir),
            METRICS_ENV: str(self.metrics.path),
            "PYTHONUNBUFFERED": "1",
        }
        env = run_environment(
            os.environ,
            spec_env=self.cfg.env,
            secret_names=self.cfg.secret_names,
            extra_names=self.cfg.pass_env,
            contract=contract,
        )
        if self.stop_reason is not None:
            return 143
        self._child = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )
        self.status["child_pid"] = self._child.pid
        self.status["child_start_ticks"] = procs.start_ticks(self._child.pid)
        self._write_status()
        signalled_at: float | None = None
        while (code := self._child.poll()) is None:
            now = time.time()
            if self.stop_reason is None:
                self._check_limits(now)
            if self.stop_reason is not None and signalled_at is None:
                self._signal_child(signal.SIGTERM)
                signalled_at = time.monotonic()
            if signalled_at is not None and time.monotonic() - signalled_at > self.cfg.grace_period_s:
                self._signal_child(signal.SIGKILL)
            self._heartbeat()
            time.sleep(TICK_S)
        # The shell may exit before the processes it started (e.g. both got SIGTERM): give the rest of
        # the run's process group the grace period to save their checkpoint, then kill stragglers.
        grace_end = (signalled_at or time.monotonic()) + self.cfg.grace_period_s
        while self._group_alive() and time.monotonic() < grace_end:
            self._heartbeat()
            time.sleep(TICK_S)
        self._signal_child(signal.SIGKILL)
        self._child = None
        return code if code >= 0 else 128 - code

    # -- helpers ----------------------------------------------------------------------------------
    def _check_limits(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline:
            self.stop_reason = self.deadline_reason
        elif self.interruption is not None and self.interruption():
            self.stop_reason = "spot-interruption"

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_reason is None:
            self.stop_reason = "signal"
        elif signum == signal.SIGINT:
            self._signal_child(signal.SIGKILL)

    def _signal_child(self, signum: int) -> None:
        if self._child is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._child.pid, signum)

    def _group_alive(self) -> bool:
        if self._child is None:
            return False
        try:
            os.killpg(self._child.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_sync >= self.cfg.sync_interval_s:
            self._sync_now()
        if now - self._last_beat >= self.cfg.heartbeat_s:
            self._read_metrics()
            self._write_status()

    def _sync_now(self) -> None:
        self._last_sync = time.monotonic()
        try:
            newest = self.sync.sync()
        except OSError as e:  # a failed sync is retried at the next interval, never fatal
            self.status["sync_error"] = str(e)
            return
        self.status.pop("sync_error", None)
        if newest:
            self.status["newest_checkpoint"] = newest

    def _read_metrics(self) -> None:
        """Fold the script's newly appended metrics into the status (a bad file never stops the agent)."""
        try:
            self.metrics.poll(time.time())
        except Exception as e:  # noqa: BLE001 - the script's file is untrusted input; supervision goes on
            self.metrics.first_problem = self.metrics.first_problem or f"unreadable ({type(e).__name__}: {e})"
        warning = self.metrics.take_warning()
        if warning and self._log is not None:
            self._line(self._log, f"[trainctl] warning: {warning}")
        if self.metrics.newest:
            self.status["metrics"] = dict(self.metrics.newest)
            self.status["metrics_updated_at"] = self.metrics.updated_at
        if self.metrics.skipped:
            self.status["metrics_skipped"] = self.metrics.skipped

    def _finish(self, state: RunState, code: int, *, reason: str) -> int:
        self._sync_now()
        self._read_metrics()
        if self.metrics.path.is_file():
            self.store.put_path(self.metrics.path, METRICS_KEY)
        if any(self.outputs_dir.iterdir()):
            self.store.put_path(self.outputs_dir, OUTPUTS_PREFIX)
        self._write_status(state=state, exit_code=code, reason=reason, ended_at=time.time())
        return code

    def _write_status(self, **changes: Any) -> None:
        self.status.update(changes)
        self.status["updated_at"] = time.time()
        self._last_beat = time.monotonic()
        self.store.write_text(STATUS_KEY, json.dumps(self.status, sort_keys=True))

    def _output(self) -> IO[bytes]:
        path = self.store.local_path(OUTPUT_KEY) or self.workdir / ".trainctl" / "output.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "ab", buffering=0)

    @staticmethod
    def _line(log: IO[bytes], text: str) -> None:
        log.write((text + "\n").encode())
