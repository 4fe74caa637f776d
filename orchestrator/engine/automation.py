"""The Automation API seam: the ONLY module that imports ``pulumi.automation``.

Every engine process runs in its own session (so a Ctrl-C at the terminal reaches trainctl, not the
engine) and is tracked, so that ``forward_signal`` can hand it exactly one signal: the engine then
stops scheduling work, finishes in-flight operations, saves state and releases its lock.
Engine exceptions are translated into trainctl errors here, with the lock holder named.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult, OnOutput

from orchestrator.engine.environment import engine_env
from orchestrator.engine.locate import Engine, find_engine
from orchestrator.engine.noise import is_engine_noise
from orchestrator.errors import CloudError, ConflictError, LockHeldError, NotFoundError, TrainctlError
from orchestrator.settings import Settings

PROJECT = "trainctl"
Program = Callable[[], None]
EventHandler = Callable[[Any], None]
_LOCK_OWNER = re.compile(r"created by (?P<who>\S+?)@?(?P<host>[^\s@(]*) \(pid (?P<pid>\d+)\) at (?P<since>[^\n]+)")


class _LiveProcesses:
    """Engine processes running now, with whether each has had its one forwarded signal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[str]] = {}
        self._signalled: set[int] = set()

    def add(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs[proc.pid] = proc

    def remove(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.pop(proc.pid, None)
            self._signalled.discard(proc.pid)

    def forward(self, signum: int, *, force: bool) -> int:
        """Signal each live engine's process group once (``force``: SIGKILL). Returns how many."""
        sent = 0
        with self._lock:
            for pid, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    continue
                if not force and pid in self._signalled:
                    continue
                try:
                    os.killpg(pid, signal.SIGKILL if force else signum)
                except ProcessLookupError:
                    continue
                self._signalled.add(pid)
                sent += 1
        return sent

    def count(self) -> int:
        with self._lock:
            return sum(1 for p in self._procs.values() if p.poll() is None)


LIVE = _LiveProcesses()


def forward_signal(signum: int, *, force: bool = False) -> int:
    """Give every running engine process exactly one ``signum`` (or SIGKILL with ``force``)."""
    return LIVE.forward(signum, force=force)


# util-linux's setpriv sets the parent-death signal and execs the engine: if trainctl dies (even by
# SIGKILL), the engine gets SIGINT, its graceful cancel (finish in-flight operations, save state,
# release the lock), so a killed trainctl leaves nothing that `trainctl recover` cannot clear. A
# preexec_fn could do the same but forces a plain fork() of a process running gRPC threads.
_SETPRIV = shutil.which("setpriv")


def _launcher() -> list[str]:
    return [_SETPRIV, "--pdeathsig", "INT", "--"] if _SETPRIV else []


class _SessionCommand(auto.PulumiCommand):
    """PulumiCommand that starts the CLI in its own session and tracks it for signal forwarding."""

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        if "--non-interactive" not in args:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        out: list[str] = []
        err: list[str] = []

        def pump(stream: Any, callback: OnOutput | None, sink: list[str]) -> None:
            for line in iter(stream.readline, ""):
                text = line.rstrip()
                if callback:
                    callback(text)
                sink.append(text)
            stream.close()

        with subprocess.Popen(
            [*_launcher(), self.command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            encoding="utf-8",
            start_new_session=True,
        ) as proc:
            LIVE.add(proc)
            try:
                pumps = [
                    threading.Thread(target=pump, args=(proc.stdout, on_output, out), daemon=True),
                    threading.Thread(target=pump, args=(proc.stderr, on_error, err), daemon=True),
                ]
                for thread in pumps:
                    thread.start()
                for thread in pumps:
                    thread.join()
                proc.wait()
            finally:
                LIVE.remove(proc)
        result = CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=proc.returncode)
        if proc.returncode != 0:
            raise auto_errors.create_command_error(result)
        return result

    def run_with_input(self, args: list[str], cwd: str, additional_env: Mapping[str, str], data: str) -> CommandResult:
        """Run the CLI with ``data`` on its standard input (how secret values reach it)."""
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        result = subprocess.run(
            [*_launcher(), self.command, "--non-interactive", *args],
            input=data,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            start_new_session=True,
            check=False,
        )
        outcome = CommandResult(stdout=result.stdout, stderr=result.stderr, code=result.returncode)
        if result.returncode != 0:
            raise auto_errors.create_command_error(outcome)
        return outcome


class Workspace:
    """Stacks of the ``trainctl`` project on the configured backend, driven by one engine."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or find_engine(settings.engines)
        self.env = engine_env(settings, self.engine)
        with translate_errors("starting the engine"):
            self._command = _SessionCommand(root=str(self.engine.root), skip_version_check=True)

    def options(self, program: Program | None = None) -> auto.LocalWorkspaceOptions:
        return auto.LocalWorkspaceOptions(
            pulumi_home=self.env["PULUMI_HOME"],
            env_vars=self.env,
            program=program,
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=self.settings.state_url)
            ),
            pulumi_command=self._command,
        )

    def stack(self, job_id: str, program: Program, *, create: bool) -> auto.Stack:
        """The job's stack with ``program`` attached (created when ``create``)."""
        factory = auto.create_or_select_stack if create else auto.select_stack
        with translate_errors(f"opening stack {job_id}", job_id=job_id):
            return factory(stack_name=job_id, project_name=PROJECT, program=program, opts=self.options(program))

    def list_stacks(self) -> list[auto.StackSummary]:
        """Every stack of the project on the backend (one engine call)."""
        with translate_errors("listing stacks"):
            return self._workspace().list_stacks(include_all=False)

    def remove_stack(self, job_id: str) -> None:
        """Delete the (empty) stack and its history."""
        with translate_errors(f"removing stack {job_id}", job_id=job_id):
            self._workspace().remove_stack(job_id, force=True)

    def _workspace(self) -> auto.LocalWorkspace:
        opts = self.options(_empty_program)
        return auto.LocalWorkspace(
            pulumi_home=opts.pulumi_home,
            env_vars=opts.env_vars,
            program=opts.program,
            project_settings=opts.project_settings,
            pulumi_command=opts.pulumi_command,
        )


def start_tagging(stack: auto.Stack, tags: Mapping[str, str]) -> Callable[[], None]:
    """Set the stack tags on a background thread; returns ``join`` (which raises what tagging raised).

    The file and S3 backends keep stack tags in their own object, written without the update lock,
    so tagging can overlap ``up``: it takes one engine process per tag, about 1 s for six.
    """
    failure: list[BaseException] = []

    def tag_all() -> None:
        try:
            with translate_errors("writing stack tags", job_id=stack.name):
                for key, value in tags.items():
                    _set_tag_retrying(stack, key, value)
        except BaseException as e:  # noqa: BLE001 - handed to the joining thread
            failure.append(e)

    thread = threading.Thread(target=tag_all, name=f"tags-{stack.name}", daemon=True)
    thread.start()

    def join() -> None:
        thread.join()
        if failure:
            raise failure[0]

    return join


def _set_tag_retrying(stack: auto.Stack, key: str, value: str, attempts: int = 8) -> None:
    """``stack tag set``, retried while a concurrent update is rewriting the checkpoint it reads.

    The tag command only reads the checkpoint (and writes the separate tags object), so a read that
    catches the file mid-write ("failed to load checkpoint") is safe to repeat.
    """
    for attempt in range(attempts):
        try:
            stack.set_tag(key, value)
            return
        except auto_errors.CommandError as e:
            if "failed to load checkpoint" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


def set_config(stack: auto.Stack, values: Mapping[str, str], secrets: Mapping[str, str], *, tags: Mapping[str, str]) -> None:
    """Write the stack's config: plain values and the stack tags in one call, each secret through stdin.

    Secret values never appear on an engine command line (they would show in process listings):
    ``pulumi config set --secret KEY`` reads the value from its standard input. The tags go into the
    ``pulumi:tags`` config object, which the engine merges into the stack's tags at every update.
    """
    document: dict[str, Any] = {key: {"value": value, "secret": False} for key, value in values.items()}
    document["pulumi:tags"] = {"value": json.dumps(dict(tags)), "objectValue": dict(tags), "secret": False}
    workspace = stack.workspace
    with translate_errors("writing stack config", job_id=stack.name):
        workspace.pulumi_command.run(
            ["config", "set-all", "--stack", stack.name, "--json", json.dumps(document)], workspace.work_dir, workspace.env_vars
        )
        for key, value in secrets.items():
            command = workspace.pulumi_command
            assert isinstance(command, _SessionCommand)
            command.run_with_input(
                ["config", "set", "--secret", key, "--stack", stack.name], workspace.work_dir, workspace.env_vars, value
            )


def up(
    stack: auto.Stack,
    *,
    on_event: EventHandler | None = None,
    policy_packs: list[str] | None = None,
    policy_configs: list[str] | None = None,
) -> dict[str, Any]:
    """``pulumi up``; returns the stack outputs as plain values."""
    with translate_errors("allocating (pulumi up)", job_id=stack.name):
        result = stack.up(on_event=on_event, policy_packs=policy_packs, policy_pack_configs=policy_configs, color="never")
    return {k: v.value for k, v in result.outputs.items()}


def preview(
    stack: auto.Stack,
    *,
    on_event: EventHandler | None = None,
    policy_packs: list[str] | None = None,
    policy_configs: list[str] | None = None,
) -> Any:
    """``pulumi preview``: no lock, nothing changes."""
    with translate_errors("previewing (pulumi preview)", job_id=stack.name):
        return stack.preview(on_event=on_event, policy_packs=policy_packs, policy_pack_configs=policy_configs, color="never")


def destroy(stack: auto.Stack, *, on_event: EventHandler | None = None) -> None:
    """``pulumi destroy``: delete every resource of the stack."""
    with translate_errors("tearing down (pulumi destroy)", job_id=stack.name):
        stack.destroy(on_event=on_event, color="never")


def refresh(stack: auto.Stack, *, clear_pending_creates: bool = False) -> None:
    """``pulumi refresh``: make state match reality (dead processes, deleted files)."""
    with translate_errors("refreshing state (pulumi refresh)", job_id=stack.name):
        if clear_pending_creates:
            stack.workspace.pulumi_command.run(
                ["refresh", "--yes", "--skip-preview", "--clear-pending-creates", "--stack", stack.name, "--color", "never"],
                stack.workspace.work_dir,
                stack.workspace.env_vars,
            )
            return
        stack.refresh(color="never")


def cancel(stack: auto.Stack) -> None:
    """Remove stale locks (in a file/S3 backend this only deletes lock files)."""
    with translate_errors("cancelling the stack's operation", job_id=stack.name):
        stack.cancel()


def export_state(stack: auto.Stack) -> dict[str, Any]:
    """The stack's checkpoint as a document (``pulumi stack export``)."""
    with translate_errors("exporting state", job_id=stack.name):
        deployment = stack.export_stack()
    return {"version": deployment.version, "deployment": deployment.deployment}


def import_state(stack: auto.Stack, state: dict[str, Any]) -> None:
    """Replace the stack's checkpoint (``pulumi stack import``)."""
    with translate_errors("importing state", job_id=stack.name):
        stack.import_stack(auto.Deployment(version=state["version"], deployment=state["deployment"]))


def outputs(stack: auto.Stack) -> dict[str, Any]:
    """The stack's outputs as plain values."""
    with translate_errors("reading outputs", job_id=stack.name):
        return {k: v.value for k, v in stack.outputs().items()}


def _empty_program() -> None:
    """Placeholder program for workspace-level calls that never run one."""


@contextmanager
def translate_errors(operation: str, **context: str) -> Iterator[None]:
    """Turn Automation API exceptions into trainctl errors naming ``operation``."""
    try:
        yield
    except TrainctlError:
        raise
    except auto_errors.ConcurrentUpdateError as e:
        raise lock_conflict(operation, str(e), context) from e
    except auto_errors.StackNotFoundError as e:
        raise NotFoundError(f"{operation}: no such job stack", context=context, hint="`trainctl ls` lists jobs") from e
    except auto_errors.CommandError as e:
        text = str(e)
        if "is currently locked" in text or "the stack is currently locked" in text:
            raise lock_conflict(operation, text, context) from e
        raise CloudError(f"{operation} failed: {_engine_message(text)}", context=context) from e
    except auto_errors.InvalidVersionError as e:
        raise CloudError(f"{operation}: unusable engine version: {e}", hint="run `trainctl engine install --force`") from e


def lock_conflict(operation: str, text: str, context: Mapping[str, str]) -> ConflictError:
    """A ConflictError naming who holds the lock (pid, host, since when) when the engine says so."""
    match = _LOCK_OWNER.search(text)
    owner = dict(context)
    detail = "another operation holds the stack's lock"
    if match:
        owner.update(pid=match["pid"], host=match["host"] or match["who"], since=match["since"].strip())
        detail = f"locked by pid {match['pid']} on {owner['host']} since {owner['since']}"
    error_cls = LockHeldError if match else ConflictError
    return error_cls(
        f"{operation}: {detail}",
        context=owner,
        hint="wait for it to finish; if that process is gone, `trainctl recover JOB` clears the stale lock",
    )


def _engine_message(text: str) -> str:
    """The engine's own error lines, without the command echo and the empty noise around them."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not is_engine_noise(ln)]
    errors = [ln for ln in lines if ln.startswith(("error:", "Error:")) or " error: " in ln]
    chosen = errors or lines[-5:]
    return " | ".join(dict.fromkeys(chosen))[:2000]
