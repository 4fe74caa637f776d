"""The supervision loop: setup, run, heartbeat, checkpoint sync, limits, signals, restarts.

Status lives in the store as ``status.json`` (rewritten every heartbeat): that is how trainctl, or the
monitor on AWS, learns the run's state even when the agent is on another machine. On a multi-node job
each node's agent is a NodeSupervisor (orchestrator/agent/node_supervisor.py): this loop with its own
status and output keys (orchestrator/agent/layout.py), checkpoints synced by rank 0 only, and the
nodes running, restarting and stopping together.
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

from orchestrator import tracing
from orchestrator.agent import procs
from orchestrator.agent.checkpoints import CheckpointSync, restore_newest
from orchestrator.agent.config import AgentConfig
from orchestrator.agent.environment import node_contract, run_environment
from orchestrator.agent.layout import OUTPUT_KEY as OUTPUT_KEY
from orchestrator.agent.layout import OUTPUTS_PREFIX, node_output_key, node_status_key
from orchestrator.agent.layout import STATUS_KEY as STATUS_KEY
from orchestrator.agent.script_metrics import ENV_NAME as METRICS_ENV
from orchestrator.agent.script_metrics import FILE_NAME as METRICS_FILE_NAME
from orchestrator.agent.script_metrics import ScriptMetrics
from orchestrator.agent.store import Store
from orchestrator.agent.telemetry import log_event, run_trace_env
from orchestrator.metrics import journal
from orchestrator.vocabulary import RunState

TICK_S = 0.1
METRICS_KEY = "metrics.jsonl"  # the script's metrics file, kept with the job's artifacts when the run ends

InterruptionCheck = Callable[[], bool]


class Supervisor:
    """Runs one job's commands to an end state, writing status as it goes."""

    def __init__(self, config: AgentConfig, store: Store, *, interruption: InterruptionCheck | None = None) -> None:
        self.cfg = config
        self.store = store
        self.workdir = Path(config.workdir)
        self.ckpt_dir = self.workdir / config.checkpoint_path
        self.outputs_dir = self.workdir / ".trainctl" / "outputs"
        self.rank = config.node_rank
        # Rank 0's checkpoints are the job's: the other nodes only restore them.
        self.sync = CheckpointSync(self.ckpt_dir, store, config.keep_last) if self.rank == 0 else None
        self.metrics = ScriptMetrics(self.workdir / ".trainctl" / METRICS_FILE_NAME)
        self._log: IO[bytes] | None = None
        self._preemption: Any = None  # the span of a spot interruption being handled
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
        """Setup, then the run, restarted after a failure up to ``max_failures``, to an end state."""
        if self.deadline is not None and time.time() >= self.deadline:
            # Earlier runs of this job used up its max_runtime or budget: nothing is started.
            self._line(log, f"[trainctl] {self.deadline_reason} already used up by earlier runs of this job")
            return self._finish(RunState.FAILED, 1, reason=self.deadline_reason or "limit")
        if self.cfg.setup:
            code = self._supervise(self.cfg.setup, log, resume_from=None, phase="setup")
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

    def _supervise(self, command: str, log: IO[bytes], *, resume_from: Path | None, phase: str = "run") -> int:
        """Run ``command`` (the ``setup`` or ``run`` phase) to its end; its span covers it."""
        with tracing.span(phase, **{"trainctl.attempt": self.status["attempts"]}) as span:
            log_event(self.cfg.job_id, f"agent.{phase}.started", attempt=self.status["attempts"])
            code = self._supervised(command, log, resume_from=resume_from)
            log_event(self.cfg.job_id, f"agent.{phase}.exited", exit_code=code, stop_reason=self.stop_reason)
            if span is not None:
                span.set_attribute("trainctl.exit_code", code)
                if code != 0:
                    tracing.failed(span, f"exit {code}")
            return code

    def _supervised(self, command: str, log: IO[bytes], *, resume_from: Path | None) -> int:
        contract = {
            "TRAINCTL_JOB_ID": self.cfg.job_id,
            "TRAINCTL_CHECKPOINT_DIR": str(self.ckpt_dir),
            "TRAINCTL_RESUME_FROM": str(resume_from) if resume_from else "",
            "TRAINCTL_ARTIFACT_DIR": str(self.outputs_dir),
            METRICS_ENV: str(self.metrics.path),
            "PYTHONUNBUFFERED": "1",
            **node_contract(self.cfg),
            **run_trace_env(),  # a script that uses OpenTelemetry joins the job's trace
        }
        env = run_environment(
            os.environ,
            spec_env=self.cfg.env,
            secret_names=self.cfg.secret_names,
            extra_names=self.cfg.pass_env,
            contract=contract,
        )
        if self._halting():
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
            if self._halting() and signalled_at is None:
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
            # From the notice until the run has stopped and its checkpoint is saved (ended by _finish).
            self._preemption = tracing.start_span("preemption", **{"trainctl.stop_reason": self.stop_reason})
            log_event(self.cfg.job_id, "agent.preemption.noticed")

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

    def _halting(self) -> bool:
        """Whether the run must stop now (a node of a multi-node job also stops when its group says so)."""
        return self.stop_reason is not None

    def _on_tick(self) -> None:
        """Called at every heartbeat check (a node of a multi-node job follows its group here)."""

    def _heartbeat(self) -> None:
        self._on_tick()
        now = time.monotonic()
        if now - self._last_sync >= self.cfg.sync_interval_s:
            self._sync_now()
        if now - self._last_beat >= self.cfg.heartbeat_s:
            self._read_metrics()
            self._write_status()

    def _sync_now(self) -> None:
        self._last_sync = started = time.monotonic()
        if self.sync is None:
            return
        with tracing.span("checkpoint sync") as span:
            try:
                newest = self.sync.sync()
            except OSError as e:  # a failed sync is retried at the next interval, never fatal
                self.status["sync_error"] = str(e)
                log_event(self.cfg.job_id, "agent.checkpoint_sync.failed", error=str(e))
                tracing.failed(span, f"checkpoint sync failed: {e}")
                return
            seconds = time.monotonic() - started
            journal.record("trainctl_checkpoint_sync_duration_seconds", seconds, job_id=self.cfg.job_id, target=self.cfg.target)
            self.status.pop("sync_error", None)
            if newest:
                if newest != self.status.get("newest_checkpoint"):
                    self.status["newest_checkpoint_at"] = time.time()  # when a sync first saw it (`top` shows its age)
                self.status["newest_checkpoint"] = newest
                if span is not None:
                    span.set_attribute("trainctl.checkpoint", newest)

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
        if self._preemption is not None:
            self._preemption.end()
            self._preemption = None
        with tracing.span("teardown", **{"trainctl.run_state": str(state), "trainctl.reason": reason}):
            code = self._teardown(state, code, reason=reason)
        log_event(self.cfg.job_id, "agent.finished", state=str(state), exit_code=code, reason=reason)
        return code

    def _teardown(self, state: RunState, code: int, *, reason: str) -> int:
        """The last checkpoint sync, the script's metrics and outputs into the store, the final status."""
        self._sync_now()
        self._read_metrics()
        node = "" if self.rank == 0 else f"nodes/{self.rank}/"  # rank 0's are the job's
        if self.metrics.path.is_file():
            self.store.put_path(self.metrics.path, node + METRICS_KEY)
        if any(self.outputs_dir.iterdir()):
            self.store.put_path(self.outputs_dir, node + OUTPUTS_PREFIX)
        self._write_status(state=state, exit_code=code, reason=reason, ended_at=time.time())
        return code

    def _write_status(self, **changes: Any) -> None:
        self.status.update(changes)
        self.status["updated_at"] = time.time()
        self._last_beat = time.monotonic()
        self.store.write_text(node_status_key(self.rank), json.dumps(self.status, sort_keys=True))

    def _output(self) -> IO[bytes]:
        path = self.store.local_path(node_output_key(self.rank)) or self.workdir / ".trainctl" / "output.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "ab", buffering=0)

    @staticmethod
    def _line(log: IO[bytes], text: str) -> None:
        log.write((text + "\n").encode())
