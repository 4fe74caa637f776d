"""`recover`: make a job's state true again after a crash (stale lock, pending operations, dead agent).

Refuses while a live trainctl process operates on the job (exit 4). Otherwise: clears the engine's
stale locks, drops pending operations from state, stops processes of the job that should not run,
refreshes state against reality, and finishes an interrupted teardown. The artifact store is never
touched, so `up` resumes from the newest checkpoint afterwards.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConflictError
from orchestrator.jobs.locks import is_locked, job_lock, lock_holder
from orchestrator.jobs.records import JobRecord
from orchestrator.lifecycle.context import Runtime
from orchestrator.lifecycle.teardown import TEARDOWN_LOCK_WAIT_S, teardown_job
from orchestrator.logs import bind_job
from orchestrator.vocabulary import JobState, LockOp, job_lock_key

if TYPE_CHECKING:
    from orchestrator.engine.jobstack import JobStack
    from orchestrator.engine.locks import EngineLock


def recover_job(
    rt: Runtime, ref: str, *, confirm_lock: Callable[[EngineLock], None] | None = None
) -> tuple[JobRecord, list[str]]:
    """Repair ``ref``; return the record and the actions taken, one line each.

    A lock held on another host may belong to a live engine there (trainctl cannot tell from here): it
    is cleared only when ``confirm_lock`` returns for it (it raises to leave it); without one, such a
    lock stops the repair (exit 4 naming its holder). A lock of a live process on this host always does.
    """
    from orchestrator.engine.jobstack import JobStack

    record = rt.ledger.resolve(ref)
    job_id = record.job_id
    bind_job(job_id, target=record.target, team=record.team)
    holder = lock_holder(rt.settings.home, job_id)
    tearing_down = holder is not None and holder.get("operation") == LockOp.TEAR_DOWN
    for key in (job_lock_key(job_id), record.name_lock):
        if is_locked(rt.settings.home, key) and not (key == job_id and tearing_down):
            raise ConflictError(
                f"cannot recover {job_id}: a live trainctl process is operating on it",
                hint="wait for it to finish, or stop it first",
            )
    actions: list[str] = []
    with JobStack.open(rt.workspace, job_id, create=True) as stack:
        waited = stack.settle()
        if waited:
            actions.append(f"waited for engine process(es) {', '.join(map(str, waited))} to finish")
        # a teardown under way (e.g. the agent's finalize) has the same goal: wait for it, then repair
        lock_wait = TEARDOWN_LOCK_WAIT_S if tearing_down else 0.0
        with job_lock(rt.settings.home, job_lock_key(job_id), LockOp.RECOVER, wait_s=lock_wait):
            resources, teardown_begun = _repair_state(stack, actions, confirm_lock)
            agents = live_agents(resources)
            if agents and (teardown_begun or record.stop_requested):
                # a stop was asked for (a signal to `up`, cut short by a second one) or the engine died
                # deleting the job: finish that stop rather than take the agent for a job that keeps running
                stop_agent(resources)
                actions.append(f"stopped agent {_pids(agents)}: {record.stop_requested or 'its teardown had begun'}")
                agents = []
            actions.extend(stop_strays(job_id, agents))
            if agents:
                actions.append(f"agent {_pids(agents)} is alive: the job keeps running")
                fixed = record.model_copy(update={"state": JobState.RUNNING, "torn_down": False})
                rt.ledger.save(fixed)
                return fixed, actions or ["nothing to repair"]
    owned = [r for r in resources if not r["type"].startswith("pulumi:")]
    if owned or not record.torn_down:
        why = record.stop_requested or record.reason or "recovered after a crash"
        record = teardown_job(rt, job_id, requested=JobState.INTERRUPTED, reason=why)
        actions.append(f"finished teardown ({len(owned)} resource(s) left in state); artifacts kept")
    return record, actions or ["nothing to repair"]


def _repair_state(
    stack: JobStack, actions: list[str], confirm_lock: Callable[[EngineLock], None] | None
) -> tuple[list[dict[str, Any]], bool]:
    """Clear stale locks, drop pending operations, refresh; return the resources left in state and
    whether a teardown had begun (a pending delete was dropped)."""
    if stack.clear_stale_lock():
        actions.append("cleared the lock of a dead engine and stopped its leftover plugins")
    remote = _locks_to_clear(stack, confirm_lock)
    stack.cancel()
    actions.extend(f"cleared the lock of {lock.holder()} (confirmed stale)" for lock in remote)
    state = stack.export_state()
    pending = state["deployment"].get("pending_operations") or []
    if pending:
        state["deployment"]["pending_operations"] = []
        stack.import_state(state)
        actions.append(f"dropped {len(pending)} pending operation(s): " + ", ".join(_describe(p) for p in pending))
    stack.refresh()
    return stack.resources(), any(op.get("type") == "deleting" for op in pending)


def _locks_to_clear(stack: JobStack, confirm_lock: Callable[[EngineLock], None] | None) -> list[EngineLock]:
    """The stack's remaining locks, each confirmed stale; LockHeldError (exit 4) for a live or unconfirmed holder."""
    from orchestrator.engine.locks import engine_locks, lock_conflict

    locks = engine_locks(stack.workspace.settings.state_url, stack.job_id)
    context = {"job_id": stack.job_id}
    for lock in locks:
        if lock.alive_here():
            raise lock_conflict(f"cannot recover {stack.job_id}: an operation is in progress", "", context, [lock])
    elsewhere = [lock for lock in locks if not lock.held_here()]
    for lock in elsewhere:
        if confirm_lock is None:
            error = lock_conflict(f"cannot recover {stack.job_id}: held on another host", "", context, [lock])
            error.hint = f"if that process is gone, `trainctl recover {stack.job_id} --yes` clears its lock"
            raise error
        confirm_lock(lock)
    return elsewhere


def live_agents(resources: list[dict[str, Any]]) -> list[int]:
    """The pids of the job's agents (one per node) that state holds and that are alive (same pid AND start time)."""
    from orchestrator.agent.procs import is_alive

    alive = []
    for resource in resources:
        outputs = resource.get("outputs") or {}
        if "start_ticks" in outputs and "pid" in outputs and is_alive(int(outputs["pid"]), outputs["start_ticks"]):
            alive.append(int(outputs["pid"]))
    return alive


def _pids(pids: list[int]) -> str:
    return ", ".join(map(str, pids))


def stop_agent(resources: list[dict[str, Any]]) -> None:
    """Stop the job's agent session as its own delete would: SIGTERM, its grace period, then SIGKILL
    (never a process whose start time differs from the recorded one)."""
    from orchestrator.agent.procs import terminate_session

    for resource in resources:
        outputs = resource.get("outputs") or {}
        if "start_ticks" in outputs and "pid" in outputs:
            grace = float(outputs.get("grace_period_s") or 10.0) + 10.0
            terminate_session(int(outputs["pid"]), grace, leader_ticks=outputs["start_ticks"])


def stop_strays(job_id: str, agents: list[int]) -> list[str]:
    """Stop every process of the job that is not part of one of ``agents``' sessions; one line per process."""
    from orchestrator.agent.procs import processes_with_env, terminate_session

    actions = []
    for pid in processes_with_env("TRAINCTL_JOB_ID", job_id):
        if any(_in_session(pid, agent) for agent in agents):
            continue
        terminate_session(pid, 3.0) if _is_leader(pid) else _kill(pid)
        actions.append(f"stopped orphan process {pid}")
    return actions


def _in_session(pid: int, sid: int) -> bool:
    from orchestrator.agent.procs import session_members

    return pid in session_members(sid)


def _is_leader(pid: int) -> bool:
    import os

    try:
        return os.getsid(pid) == pid
    except ProcessLookupError:
        return False


def _kill(pid: int) -> None:
    import os

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _describe(op: dict[str, Any]) -> str:
    resource = op.get("resource") or {}
    return f"{op.get('type', '?')} {str(resource.get('urn', '?')).rsplit('::', 1)[-1]}"
