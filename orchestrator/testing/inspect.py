"""Read a file-backend's state and this machine's processes the way the lifecycle tests check them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.agent.procs import processes_with_env, scan


def state_dir(home: Path) -> Path:
    return home / "state" / ".pulumi"


def stack_checkpoint(home: Path, job_id: str) -> dict[str, Any] | None:
    """The stack's checkpoint document (None when the stack does not exist)."""
    path = state_dir(home) / "stacks" / "trainctl" / f"{job_id}.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def engine_locks(home: Path) -> list[Path]:
    """Lock files the engine left in the backend (a stale one blocks the next update)."""
    locks = state_dir(home) / "locks"
    return [p for p in locks.rglob("*.json")] if locks.exists() else []


def pending_operations(home: Path, job_id: str) -> list[dict[str, Any]]:
    checkpoint = stack_checkpoint(home, job_id)
    if not checkpoint:
        return []
    latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
    return list(latest.get("pending_operations") or [])


def live_resources(home: Path, job_id: str) -> list[str]:
    """Types of the non-Pulumi resources in the stack's state."""
    checkpoint = stack_checkpoint(home, job_id)
    if not checkpoint:
        return []
    latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
    return [r["type"] for r in latest.get("resources") or [] if not r["type"].startswith("pulumi:")]


def job_processes(job_id: str) -> list[int]:
    """Live processes carrying the job id in their environment."""
    return processes_with_env("TRAINCTL_JOB_ID", job_id)


def stack_tags(home: Path, job_id: str) -> dict[str, str]:
    """The stack's tags as the file backend stores them (``<stack>.pulumi-tags`` beside the checkpoint)."""
    path = state_dir(home) / "stacks" / "trainctl" / f"{job_id}.pulumi-tags"
    if not path.exists():
        return {}
    loaded: dict[str, str] = json.loads(path.read_text()).get("tags", {})
    return loaded


def watcher_processes(job_id: str) -> list[int]:
    """Live `trainctl watch JOB` processes of ``job_id``."""
    return [pid for pid, argv in scan("cmdline") if b"watch" in argv and job_id.encode() in argv]
