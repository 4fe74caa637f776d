"""The watcher of a detached job: what an attached `up` does after allocation, with nobody attached.

`up --detach` starts ``trainctl watch JOB`` in its own session (it outlives the terminal) with its output
in ``$TRAINCTL_HOME/logs/JOB.watch.log``. Every ``watch_interval_s`` it looks at the job; when the run has
ended it relaunches a preempted job from its newest checkpoint (up to ``restarts.max_preemptions``) and
otherwise tears the job down, artifacts kept, exactly as the attached `up` would. It exits when the job
is torn down (by itself, the agent's finalize, `cancel` or `down`). One watcher per job (a lock); a
signal stops the watcher, never the job.

Secrets: the watcher's environment has the spec's secret names removed. A relaunch does not rewrite
the stack's secret config: the run gets the secrets that `up` stored (encrypted) in the job's stack
settings, which are kept in the backend and loaded whenever the stack is opened.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path

from orchestrator import tracing
from orchestrator.compile import CompiledJob, compile_job
from orchestrator.errors import ConflictError
from orchestrator.jobs.locks import job_lock
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.stopping import graceful_stop
from orchestrator.logs import get_logger
from orchestrator.vocabulary import RUN_ALIVE, JobState, LockOp, watch_lock_key


def watch_log(rt: Runtime, job_id: str) -> Path:
    """Where the watcher of ``job_id`` writes what it does."""
    return rt.settings.home / "logs" / f"{job_id}.watch.log"


def spawn_watcher(rt: Runtime, job_id: str, policy_config: Path | None, *, secrets: Iterable[str]) -> Path:
    """Start ``trainctl watch JOB`` in its own session; return its log file.

    With tracing on, the watcher's trace continues the current one (the `up` that started the job), so
    a relaunch or the teardown it does later shows in the job's trace.
    """
    log_path = watch_log(rt, job_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    hidden = set(secrets)
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    parent = tracing.traceparent()
    if parent is not None:
        env[tracing.TRACEPARENT_VAR] = parent
    argv = [sys.executable, "-m", "orchestrator", "watch", job_id]
    if policy_config is not None:
        argv += ["--policy-config", str(Path(policy_config).resolve())]
    with open(log_path, "ab") as log:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    return log_path


def watcher_pids(job_id: str) -> list[int]:
    """Live `trainctl watch JOB` processes of ``job_id`` (found by the command line `spawn_watcher` gives them,
    so also one that has not taken its lock yet)."""
    from orchestrator.agent.procs import is_alive, scan

    wanted = [b"-m", b"orchestrator", b"watch", job_id.encode()]
    me = os.getpid()
    return [pid for pid, argv in scan("cmdline") if argv[1:5] == wanted and pid != me and is_alive(pid)]


def stop_watcher(rt: Runtime, job_id: str) -> list[int]:
    """Once the job is torn down its watcher has nothing left to do: SIGTERM it now rather than let it notice
    at its next look (up to ``watch_interval_s`` later). The pids signalled; none while the job is still up
    (a watcher stopped mid-teardown would cut its engine short)."""
    import signal

    record = rt.ledger.load(job_id)
    if record is None or not record.torn_down:
        return []
    pids = watcher_pids(job_id)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    return pids


def watch_job(rt: Runtime, job_id: str, policy_config: Path | None = None) -> JobRecord | None:
    """Watch ``job_id`` until it is torn down (None when another watcher already watches it)."""
    rt.bind(job_id)
    log = get_logger(__name__)
    try:
        with job_lock(rt.settings.home, watch_lock_key(job_id), LockOp.WATCH):
            log.info("watch.started", interval_s=rt.settings.watch_interval_s)
            record = _watch(rt, job_id, policy_config)
    except ConflictError:
        log.info("watch.skipped", reason="another watcher watches this job")
        return None
    log.info("watch.ended", state=record.state if record else None)
    return record


def _watch(rt: Runtime, job_id: str, policy_config: Path | None) -> JobRecord | None:
    from orchestrator.lifecycle.runloop import after_run
    from orchestrator.targets import get_target

    def say(line: str) -> None:
        get_logger(__name__).info("watch.step", detail=line)

    with graceful_stop() as stop:
        while True:
            record = rt.ledger.load(job_id)
            if record is None or record.torn_down:
                return record
            target = get_target(record.target)
            if record.state == JobState.PROVISIONING or target.observe(record).state in RUN_ALIVE:
                if stop.wait(rt.settings.watch_interval_s):
                    return record  # a signal stops the watcher, not the job
                continue
            try:
                record, finished = after_run(rt, partial(_compiled, rt, record), record, target, stop, say, policy_config)
            except ConflictError as e:  # someone else is on it (`down`, the agent's finalize): look again later
                say(f"job busy: {e.message}")
                if stop.wait(rt.settings.watch_interval_s):
                    return record
                continue
            if finished:
                return record


def _compiled(rt: Runtime, record: JobRecord) -> CompiledJob:
    """The job as `up` compiled it, from its record; the secrets stay the ones stored in its stack."""
    from orchestrator.spec.loader import LoadedSpec

    spec = record.job_spec()
    source = record.spec_path or "job.yaml"
    loaded = LoadedSpec(spec=spec, source=source, base_dir=Path(source).resolve().parent)
    job = compile_job(
        loaded, record.job_id, rt.settings, read_env=False, region=record.region, prices=record.prices, sweep=record.sweep
    )
    return replace(job, secret_values={})
