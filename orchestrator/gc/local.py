"""Leaks on this machine: processes and directories carrying a job id that no live stack accounts for."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

from orchestrator.agent import procs
from orchestrator.gc.findings import Finding, StackFacts
from orchestrator.jobs.locks import is_locked
from orchestrator.jobs.records import JobRecord
from orchestrator.vocabulary import Tag, job_lock_key, name_lock_key

MARKER = ".trainctl-job.json"
HOME_VAR = "TRAINCTL_JOB_HOME"


def local_findings(home: Path, stacks: dict[str, StackFacts], records: dict[str, JobRecord]) -> list[Finding]:
    """Leaked processes and working directories of jobs whose stacks do not hold them."""
    findings: list[Finding] = []
    for job_id, pids in _job_processes(home).items():
        if _busy(home, job_id, records) or _process_accounted(stacks.get(job_id), pids):
            continue
        for pid in pids:
            findings.append(Finding("leaked-process", job_id, f"pid {pid}", "carries the job id; no live stack holds its agent"))
    runs = home / "runs"
    for directory in sorted(runs.iterdir()) if runs.is_dir() else []:
        job_id = _marker_job(directory) or directory.name
        facts = stacks.get(job_id)
        if _busy(home, job_id, records) or (facts is not None and (facts.has_pending_create or facts.outputs_of("path"))):
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
        Finding("stale-lock", job_id, str(path), f"held by dead pid {pid} since {since}")
        for job_id, path, pid, since in stale_engine_locks(state_url)
    ]


def stale_engine_locks(state_url: str, job_id: str | None = None) -> list[tuple[str, Path, int, str]]:
    """(job id, lock file, holder pid, since) of file-backend engine locks whose holder died on this host.

    An engine dies holding its lock when the trainctl process serving its inline program is killed.
    """
    if not state_url.startswith("file://"):
        return []
    locks = Path(state_url[len("file://") :]) / ".pulumi" / "locks"
    found = []
    for path in sorted(locks.rglob("*.json")) if locks.is_dir() else []:
        if job_id is not None and path.parent.name != job_id:
            continue
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid, host = int(holder.get("pid", 0) or 0), str(holder.get("hostname", ""))
        if host == socket.gethostname() and pid and not procs.is_alive(pid) and not procs.engine_processes(path.parent.name):
            found.append((path.parent.name, path, pid, str(holder.get("timestamp", "?"))))
    return found


# What an engine starts: its plugins (``pulumi-resource-*``, ``pulumi-language-*``, the dynamic provider
# ``-m pulumi.dynamic``) and trainctl's policy pack, an executable analyzer served by ``policies/pack.py``.
_ENGINE_CHILD_MARKERS = (b"pulumi", b"/policies/pack.py")


def orphaned_plugins(home: Path) -> list[int]:
    """Engine plugin and policy-pack processes of this home whose engine is gone (re-parented to init).

    A plugin's parent is its engine; one whose engine died (or exited while it was still working)
    would otherwise wait forever. ``PULUMI_HOME`` in its environment says which trainctl home it serves.
    """
    mine = f"PULUMI_HOME={home / 'pulumi-home'}".encode()
    found = []
    for pid, environ in procs.scan("environ"):
        if mine not in environ:
            continue
        try:
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == "1" and any(marker in cmdline for marker in _ENGINE_CHILD_MARKERS):
            found.append(pid)
    return found


def reap_orphaned_plugins(home: Path) -> list[int]:
    """Kill :func:`orphaned_plugins`; return their pids."""
    reaped = orphaned_plugins(home)
    for pid in reaped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return reaped


def reap_engine_group(pid: int) -> list[int]:
    """Kill the plugin processes a dead engine left behind: its process group (the engine led its own)."""
    reaped = []
    for entry in procs.PROC.iterdir():
        if not entry.name.isdigit():
            continue
        member = int(entry.name)
        try:
            in_group = os.getpgid(member) == pid
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ProcessLookupError):
            continue
        if in_group and b"pulumi" in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
            reaped.append(member)
    return reaped


def remove_local(finding: Finding) -> None:
    """Stop a leaked process's whole session, or delete a leaked directory."""
    if finding.kind == "leaked-process":
        pid = int(finding.resource.split()[1])
        procs.terminate_session(pid, 5.0) if _is_leader(pid) else procs.terminate_session(_sid(pid) or pid, 5.0)
    elif finding.kind == "leaked-directory":
        shutil.rmtree(finding.resource, ignore_errors=True)
    finding.removed = True


def _job_processes(home: Path) -> dict[str, list[int]]:
    """Processes of this home's jobs (another TRAINCTL_HOME's jobs are not ours to judge), by job id."""
    by_job: dict[str, list[int]] = {}
    mine = f"{HOME_VAR}={home}".encode()
    for pid, environ in procs.scan("environ"):
        if mine not in environ:
            continue
        for item in environ:
            if item.startswith(b"TRAINCTL_JOB_ID="):
                by_job.setdefault(item.split(b"=", 1)[1].decode(errors="replace"), []).append(pid)
    return by_job


def _process_accounted(facts: StackFacts | None, pids: list[int]) -> bool:
    if facts is None:
        return False
    if facts.has_pending_create:
        return True
    agents = [int(p) for p in facts.outputs_of("pid") if p is not None]
    sessions = {procs_sid for procs_sid in (_sid(p) for p in pids) if procs_sid is not None}
    return any(agent in sessions and procs.is_alive(agent) for agent in agents)


def _busy(home: Path, job_id: str, records: dict[str, JobRecord]) -> bool:
    """A trainctl operation holds the job: what it does is not a leak."""
    record = records.get(job_id)
    keys = [job_lock_key(job_id)] + ([name_lock_key(record.name)] if record else [])
    return any(is_locked(home, key) for key in keys) or bool(procs.engine_processes(job_id))


def _marker_job(directory: Path) -> str | None:
    try:
        tags = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    value = tags.get(Tag.JOB_ID)
    return value if isinstance(value, str) else None


def _sid(pid: int) -> int | None:
    import os

    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def _is_leader(pid: int) -> bool:
    return _sid(pid) == pid
