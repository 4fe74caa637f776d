"""``JobStack``: one job's stack, opened with its persisted settings and operated with the safety steps inside.

Every operation on a job's stack goes through here: ``create`` (a new job: ``stack init``) or ``open``
(an existing one: no engine call, no program unless one is given), ``configure``, ``up``, ``preview``,
``destroy``, ``refresh``, ``cancel`` and state export/import. The safety steps are part of the
operations: ``settle`` waits for engines a killed trainctl orphaned (and reaps their plugins), and a
lock held by a dead engine on this host is cleared and the operation retried once.

Engine starts are counted against what an operation needs: the engine's version is known from its
install, no ``stack select`` follows a ``stack init``, ``up`` takes the stack outputs from its own
event stream (no ``stack output`` afterwards), and no operation reads a ``stack history`` summary.
Stack tags are written once by ``configure``: on the file backend, whose engine does not turn the
``pulumi:tags`` config into stack tags, as one write of the backend's tags object; elsewhere, one
``stack tag set`` per tag.

With tracing on, each engine operation (preview, update, destroy, refresh) is a span; the engine joins
it (``PULUMI_OPTION_OTEL_TRACES`` and that span's ``TRACEPARENT`` in the operation's environment, so
its own spans, service ``pulumi-cli``, are children of it), and each resource step of the operation's
event stream becomes a child span with the step's timing.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from orchestrator import tracing
from orchestrator.engine import processes
from orchestrator.engine.automation import EventHandler, Program, SessionCommand, Workspace, engine_call
from orchestrator.engine.locks import EngineLock, engine_locks, lock_conflict, stale_engine_locks
from orchestrator.engine.secrets import stack_provider
from orchestrator.engine.stack_settings import with_plain_config
from orchestrator.errors import ConflictError
from orchestrator.logs import get_logger

T = TypeVar("T")
_MASKED = "[secret]"  # how events show a secret output value
STACK_TYPE = "pulumi:pulumi:Stack"


def no_program() -> None:
    """The program of operations that run none (destroy, refresh, recovery, state access)."""


class JobStack:
    """The stack of one job; use as a context manager (its temporary Automation workspace is removed on exit)."""

    def __init__(self, workspace: Workspace, job_id: str, program: Program | None = None) -> None:
        self.workspace = workspace
        self.job_id = job_id
        self._dir = Path(tempfile.mkdtemp(prefix="trainctl-stack-"))
        try:
            self._load_settings()
            local = workspace.local(self._dir, program or no_program)
        except BaseException:
            self.close()
            raise
        self._stack = _Stack(job_id, local)

    @classmethod
    def create(cls, workspace: Workspace, job_id: str, program: Program) -> JobStack:
        """A new job's stack (one ``stack init``)."""
        job_stack = cls(workspace, job_id, program)
        with job_stack._closed_on_error():
            job_stack._engine(f"creating stack {job_id}", job_stack._init_stack)
        job_stack._save_settings()  # the secrets provider's state (salt) `stack init` wrote
        return job_stack

    @classmethod
    def open(cls, workspace: Workspace, job_id: str, program: Program | None = None, *, create: bool = False) -> JobStack:
        """An existing job's stack; with ``create``, made when it does not exist yet (a job interrupted before it had one)."""
        job_stack = cls(workspace, job_id, program)
        if create:
            with job_stack._closed_on_error():
                if job_stack._engine(f"opening stack {job_id}", job_stack._select_or_init):
                    job_stack._save_settings()
        return job_stack

    def __enter__(self) -> JobStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary Automation workspace (the settings were saved after each change)."""
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- safety steps -------------------------------------------------------------------------------

    def settle(self) -> list[int]:
        """Wait for engines a killed trainctl left working on this stack; reap orphaned plugins."""
        return processes.settle(self.job_id, self.workspace.settings.home)

    def clear_stale_lock(self) -> list[EngineLock]:
        """Remove this stack's lock if its holder died on this host (and reap that engine's plugins)."""
        stale = stale_engine_locks(self.workspace.settings.state_url, self.job_id)
        if not stale:
            return []
        self.cancel()
        for lock in stale:
            reaped = processes.reap_engine_group(lock.pid)
            get_logger(__name__).warning(
                "engine.lock.stale_cleared", job_id=self.job_id, holder_pid=lock.pid, since=lock.since, reaped=reaped
            )
        return stale

    def refuse_if_locked(self, operation: str) -> None:
        """LockHeldError (exit 4) naming the holder when an engine holds this stack's lock now."""
        held = engine_locks(self.workspace.settings.state_url, self.job_id)
        if held:
            raise lock_conflict(operation, "", {"job_id": self.job_id}, held)

    # -- configuration ------------------------------------------------------------------------------

    def configure(self, values: Mapping[str, str], secrets: Mapping[str, str], *, tags: Mapping[str, str]) -> None:
        """Set plain config, secrets and the stack's tags, and persist the settings with the job.

        Plain values (and the tags, as ``pulumi:tags``) are written into the settings document, never
        on an engine command line; each secret reaches the engine on its standard input
        (``config set --secret KEY``).
        """
        path = self._settings_path()
        path.write_bytes(with_plain_config(path.read_bytes() if path.exists() else None, values, tags))
        command = self._stack.workspace.pulumi_command
        assert isinstance(command, SessionCommand)
        for key, value in secrets.items():
            args = ["config", "set", "--secret", key, "--stack", self.job_id]
            self._engine(
                "writing stack secrets",
                functools.partial(command.run_with_input, args, str(self._dir), self.workspace.env, value),
            )
        self._save_settings()
        self._tag(tags)

    def _tag(self, tags: Mapping[str, str]) -> None:
        """The stack's tags: one write of the backend's tags object, else one ``stack tag set`` per tag."""
        store = self.workspace.settings_store
        if store is not None:
            store.save_stack_tags(self.job_id, tags)
            return
        for key, value in tags.items():
            self._engine("writing stack tags", functools.partial(self._stack.set_tag, key, value))

    # -- operations ---------------------------------------------------------------------------------

    def up(
        self,
        *,
        on_event: EventHandler | None = None,
        policy_packs: list[str] | None = None,
        policy_configs: list[str] | None = None,
    ) -> dict[str, Any]:
        """``pulumi up``; returns the stack outputs as plain values (from the update's own events)."""
        stack = self._stack
        stack.captured = None

        def capture(event: Any) -> None:
            stack.capture(event)
            if on_event is not None:
                on_event(event)

        with self._traced("update") as traced:
            result = self._guarded(
                "allocating (pulumi up)",
                lambda: stack.up(
                    on_event=traced(capture), policy_packs=policy_packs, policy_pack_configs=policy_configs, color="never"
                ),
            )
        return {k: v.value for k, v in result.outputs.items()}

    def preview(
        self,
        *,
        on_event: EventHandler | None = None,
        policy_packs: list[str] | None = None,
        policy_configs: list[str] | None = None,
    ) -> Any:
        """``pulumi preview``: no lock, nothing changes."""
        with self._traced("preview") as traced:
            return self._engine(
                "previewing (pulumi preview)",
                lambda: self._stack.preview(
                    on_event=traced(on_event), policy_packs=policy_packs, policy_pack_configs=policy_configs, color="never"
                ),
            )

    def destroy(self, *, on_event: EventHandler | None = None) -> None:
        """``pulumi destroy``: delete every resource of the stack (orphaned engines settled first)."""
        self.settle()
        with self._traced("destroy") as traced:
            self._guarded("tearing down (pulumi destroy)", lambda: self._stack.destroy(on_event=traced(on_event), color="never"))

    def refresh(self, *, clear_pending_creates: bool = False) -> None:
        """``pulumi refresh``: make state match reality (dead processes, deleted files, pending creates)."""
        with self._traced("refresh") as traced:
            if not clear_pending_creates:
                handler = traced(None)
                self._guarded("refreshing state (pulumi refresh)", lambda: self._stack.refresh(on_event=handler, color="never"))
                return
            args = ["refresh", "--yes", "--skip-preview", "--clear-pending-creates", "--stack", self.job_id, "--color", "never"]
            local = self._stack.workspace
            self._guarded(
                "refreshing state (pulumi refresh)", lambda: local.pulumi_command.run(args, str(self._dir), local.env_vars)
            )

    def cancel(self) -> None:
        """Remove the stack's locks (in a file/S3 backend this only deletes lock files)."""
        self._engine("cancelling the stack's operation", self._stack.cancel)

    def export_state(self) -> dict[str, Any]:
        """The stack's checkpoint as a document (``pulumi stack export``)."""
        deployment = self._engine("exporting state", self._stack.export_stack)
        return {"version": deployment.version, "deployment": deployment.deployment}

    def import_state(self, state: dict[str, Any]) -> None:
        """Replace the stack's checkpoint (``pulumi stack import``)."""
        deployment = auto.Deployment(version=state["version"], deployment=state["deployment"])
        self._engine("importing state", lambda: self._stack.import_stack(deployment))

    def resources(self) -> list[dict[str, Any]]:
        """The resources in the stack's state."""
        return list(self.export_state()["deployment"].get("resources") or [])

    # -- internals ----------------------------------------------------------------------------------

    @contextmanager
    def _traced(self, operation: str) -> Iterator[Callable[[EventHandler | None], EventHandler | None]]:
        """The span of one engine operation, with the engine joining it; yields a wrapper for event handlers
        that adds the resource steps' spans (with tracing off: no span, handlers unchanged)."""
        if not tracing.active():
            yield lambda handler: handler
            return
        local = self._stack.workspace
        base = local.env_vars
        with tracing.span(f"pulumi {operation}", **{"pulumi.operation": operation, "pulumi.stack": self.job_id}) as span:
            steps = tracing.resource_spans()

            def traced(handler: EventHandler | None) -> EventHandler:
                def both(event: Any) -> None:
                    steps(event)
                    if handler is not None:
                        handler(event)

                return both

            local.env_vars = {**base, **tracing.engine_env()}  # this operation only (the dict is shared)
            try:
                yield traced
            finally:
                local.env_vars = base
                steps.close()
                span.set_attribute("pulumi.resource_operations", steps.count)

    def _guarded(self, operation: str, run: Callable[[], T]) -> T:
        """Run ``run``; if a dead engine on this host holds the stack's lock, clear it and retry once."""
        try:
            return self._engine(operation, run)
        except ConflictError as e:
            if not (self.clear_stale_lock() or self._clear_named_holder(e.context)):
                named = self._holder_named(operation, e)
                if named is e:
                    raise
                raise named from e
        return self._engine(operation, run)

    def _clear_named_holder(self, context: Mapping[str, object]) -> bool:
        """Clear the lock when the engine named its holder and that is a dead process on this host."""
        from orchestrator.agent.procs import is_alive

        pid, host = context.get("pid"), context.get("host")
        if not isinstance(pid, str) or not pid.isdigit() or host not in (socket.gethostname(), ""):
            return False
        if is_alive(int(pid)) or processes.orphaned_engines(self.job_id):
            return False
        get_logger(__name__).warning("engine.lock.stale_cleared", job_id=self.job_id, holder_pid=pid)
        self.cancel()
        return True

    def _holder_named(self, operation: str, error: ConflictError) -> ConflictError:
        """``error``, or the same conflict naming the holder from the stack's lock file when the engine did not."""
        held = [lock for lock in engine_locks(self.workspace.settings.state_url, self.job_id) if lock.pid]
        if "pid" in error.context or not held:
            return error
        return lock_conflict(operation, "", {k: str(v) for k, v in error.context.items()}, held)

    def _engine(self, operation: str, run: Callable[[], T]) -> T:
        """One engine call on this stack (``engine_call``; its secrets provider named on a failure to decrypt)."""
        return engine_call(operation, run, secrets=self.secrets, job_id=self.job_id)

    def _init_stack(self) -> None:
        """``stack init``; a stack an earlier attempt created (its answer lost to a storage failure) is selected."""
        try:
            self._stack.workspace.create_stack(self.job_id)
        except auto.StackAlreadyExistsError:
            self._stack.workspace.select_stack(self.job_id)

    def _select_or_init(self) -> bool:
        """Select the stack, or create it when there is none; whether it was created."""
        try:
            self._stack.workspace.select_stack(self.job_id)
            return False
        except auto.StackNotFoundError:
            self._init_stack()
            return True

    def _settings_path(self) -> Path:
        return self._dir / f"Pulumi.{self.job_id}.yaml"

    def _load_settings(self) -> None:
        store = self.workspace.settings_store
        document = store.load(self.job_id) if store is not None else None
        self.secrets = stack_provider(document, self.workspace.settings)
        if document is not None:
            path = self._settings_path()
            path.write_bytes(document)
            path.chmod(0o600)

    def _save_settings(self) -> None:
        store = self.workspace.settings_store
        path = self._settings_path()
        if store is not None and path.exists():
            store.save(self.job_id, path.read_bytes())

    @contextmanager
    def _closed_on_error(self) -> Iterator[None]:
        """Close the job stack when opening it fails half-way (its temporary directory must not stay)."""
        try:
            yield
        except BaseException:
            self.close()
            raise


class _Stack(auto.Stack):
    """``auto.Stack`` without the engine starts trainctl does not need.

    Constructing it starts nothing (the caller decided whether to create or select); operations never
    read a ``stack history`` summary; ``up`` takes the outputs from its ``pulumi:pulumi:Stack`` outputs
    event instead of two ``stack output`` starts (falling back to them if a value is masked).
    """

    def __init__(self, name: str, workspace: auto.LocalWorkspace) -> None:
        # no super().__init__(): it would start the engine (`stack select` or `stack init`)
        self.name = name
        self.workspace = workspace
        self._mode = StackInitMode.SELECT
        self.captured: dict[str, Any] | None = None

    def capture(self, event: Any) -> None:
        outputs_event = getattr(event, "res_outputs_event", None)
        if outputs_event is None or outputs_event.metadata.type != STACK_TYPE or outputs_event.metadata.new is None:
            return
        values = dict(outputs_event.metadata.new.outputs or {})
        self.captured = None if _MASKED in map(_plain, values.values()) else values

    def outputs(self) -> auto.OutputMap:
        if self.captured is not None:
            captured, self.captured = self.captured, None
            return {key: auto.OutputValue(value=value, secret=False) for key, value in captured.items()}
        return super().outputs()

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        """Not read by trainctl: a placeholder instead of a ``stack history`` engine start."""
        return auto.UpdateSummary(
            kind="update", start_time=datetime.now(), message="", environment={}, config={}, result="unknown"
        )


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
