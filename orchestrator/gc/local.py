"""Leaks on this machine: processes and directories carrying a job id that no live stack accounts for."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from orchestrator.agent import procs
from orchestrator.engine.locks import stale_engine_locks
from orchestrator.gc.findings import Finding, StackFacts
from orchestrator.jobs.backend import BACKEND_VAR
from orchestrator.jobs.locks import is_locked
from orchestrator.jobs.records import JobRecord
from orchestrator.vocabulary import Tag, job_lock_key, watch_lock_key

MARKER = ".trainctl-job.json"
HOME_VAR = "TRAINCTL_JOB_HOME"


def local_findings(home: Path, stacks: dict[str, StackFacts], records: dict[str, JobRecord], backend: str) -> list[Finding]:
    """Leaked processes and working directories of this backend's jobs whose stacks do not hold them.

    What carries another backend's id (``backend``: see orchestrator/jobs/backend.py) is judged against that
    backend's stacks, not these: it is left alone. Things from before the id existed carry none.
    """
    findings: list[Finding] = []
    for job_id, pids in _job_processes(home, backend).items():
        if _busy(home, job_id, records) or watched(home, job_id) or _process_accounted(stacks.get(job_id), pids):
            continue
        for pid in pids:
            findings.append(Finding("leaked-process", job_id, f"pid {pid}", "carries the job id; no live stack holds its agent"))
    runs = home / "runs"
    for directory in sorted(runs.iterdir()) if runs.is_dir() else []:
        tags = _marker(directory)
        if tags.get(Tag.BACKEND, backend) != backend:
            continue
        job_id = tags.get(Tag.JOB_ID) or directory.name
        facts = stacks.get(job_id)
        if _busy(home, job_id, records) or watched(home, job_id):
            continue
        if facts is not None and (facts.has_pending_create or facts.outputs_of("path")):
            continue
        findings.append(Finding("leaked-directory", job_id, str(directory), "working directory of a job whose stack holds none"))
    return findings


def expired_findings(home: Path, stacks: dict[str, StackFacts], records: dict[str, JobRecord], ttl_s: float) -> list[Finding]:
    """Jobs still holding resources past their deadline (max_runtime plus grace, or the TTL)."""
    now = time.time()
    findings = []
    for job_id, facts in stacks.items():
        owned = [r for r in facts.resources if not str(r.get("type", "")).startswith("pulumi:")]
        record = records.get(job_id)
        if not owned or record is None or _busy(home, job_id, records):
            continue
        limit = (record.spec.get("limits") or {}).get("max_runtime")
        from orchestrator.spec.durations import parse_duration

        allowed = parse_duration(limit) + 300.0 if isinstance(limit, str) else ttl_s
        since = record.started_at or record.created
        if now - since > allowed:
            age = int(now - since)
            findings.append(
                Finding("expired-job", job_id, f"{len(owned)} resource(s)", f"running {age}s, deadline {int(allowed)}s")
            )
    return findings


def stale_lock_findings(state_url: str, stacks: dict[str, StackFacts]) -> list[Finding]:
    """Engine lock files (file backend) whose holder is a dead process on this host."""
    return [
        Finding("stale-lock", lock.job_id, lock.key, f"held by dead pid {lock.pid} since {lock.since}")
        for lock in stale_engine_locks(state_url)
    ]


def remove_local(finding: Finding) -> None:
    """Stop a leaked process's whole session, or delete a leaked directory."""
    if finding.kind == "leaked-process":
        pid = int(finding.resource.split()[1])
        if not _carries_job(pid, finding.job_id):
            return  # gone, or its pid now belongs to another process: nothing of the job to stop
        procs.terminate_session(pid, 5.0) if _is_leader(pid) else procs.terminate_session(_sid(pid) or pid, 5.0)
    elif finding.kind == "leaked-directory":
        shutil.rmtree(finding.resource, ignore_errors=True)
    finding.removed = True


def _job_processes(home: Path, backend: str) -> dict[str, list[int]]:
    """Processes of this home's and backend's jobs (another TRAINCTL_HOME's or backend's jobs are not
    ours to judge), by job id."""
    by_job: dict[str, list[int]] = {}
    mine = f"{HOME_VAR}={home}".encode()
    other_backend = f"{BACKEND_VAR}=".encode()
    own_backend = f"{BACKEND_VAR}={backend}".encode()
    for pid, environ in procs.scan("environ"):
        if mine not in environ:
            continue
        if own_backend not in environ and any(item.startswith(other_backend) for item in environ):
            continue
        for item in environ:
            if item.startswith(b"TRAINCTL_JOB_ID="):
                by_job.setdefault(item.split(b"=", 1)[1].decode(errors="replace"), []).append(pid)
    return by_job


def _carries_job(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is (still) a process of ``job_id``: the job id is in its environment."""
    try:
        environ = (procs.PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"TRAINCTL_JOB_ID={job_id}".encode() in environ and procs.is_alive(pid)


def _process_accounted(facts: StackFacts | None, pids: list[int]) -> bool:
    if facts is None:
        return False
    if facts.has_pending_create:
        return True
    sessions = {procs_sid for procs_sid in (_sid(p) for p in pids) if procs_sid is not None}
    return any(agent in sessions and procs.is_alive(agent, ticks) for agent, ticks in _agents(facts))


def _agents(facts: StackFacts) -> list[tuple[int, int | None]]:
    """(pid, start ticks) of the agents the stack's state records."""
    found = []
    for resource in facts.resources:
        outputs = resource.get("outputs") or {}
        if outputs.get("pid") is not None:
            ticks = outputs.get("start_ticks")
            found.append((int(outputs["pid"]), int(ticks) if ticks is not None else None))
    return found


def _busy(home: Path, job_id: str, records: dict[str, JobRecord]) -> bool:
    """A trainctl operation holds the job: what it does is not a leak."""
    record = records.get(job_id)
    keys = [job_lock_key(job_id)] + ([record.name_lock] if record else [])
    return any(is_locked(home, key) for key in keys) or bool(procs.engine_processes(job_id))


def watched(home: Path, job_id: str) -> bool:
    """A watcher holds the job's lock: it tears the job down when it ends, so what the job has is no leak
    (an expired job is still stopped: the watcher would let it run)."""
    return is_locked(home, watch_lock_key(job_id))


def _marker(directory: Path) -> dict[str, str]:
    """The tags a job directory's marker file carries (none when it has no readable marker)."""
    try:
        tags = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in tags.items() if isinstance(v, str)} if isinstance(tags, dict) else {}


def _sid(pid: int) -> int | None:
    import os

    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def _is_leader(pid: int) -> bool:
    return _sid(pid) == pid
