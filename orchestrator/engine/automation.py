"""The Automation API seam: with ``jobstack.py``, the only code that imports ``pulumi.automation``.

Every engine process runs in its own session (so a Ctrl-C at the terminal reaches trainctl, not the
engine) and is tracked, so that ``forward_signal`` can hand it exactly one signal: the engine then
stops scheduling work, finishes in-flight operations, saves state and releases its lock.
Engine exceptions are translated into trainctl errors here, with the lock holder named.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult, OnOutput
from semver import VersionInfo

from orchestrator.engine.environment import engine_env
from orchestrator.engine.locate import Engine, find_engine
from orchestrator.engine.locks import lock_conflict
from orchestrator.engine.noise import is_engine_noise
from orchestrator.engine.secrets import new_stack_provider, require_team_secrets, secrets_failure
from orchestrator.engine.stack_settings import settings_store
from orchestrator.errors import CloudError, NotFoundError, TrainctlError, TransientCloudError
from orchestrator.settings import Settings

PROJECT = "trainctl"
T = TypeVar("T")
# The engine's S3 backend gives up on a throttled or failing request after 3 attempts (its storage
# library installs its own retryer, so AWS_MAX_ATTEMPTS does not reach it): such a failure is transient.
_THROTTLED = re.compile(
    r"api error SlowDown|StatusCode: 50[0-9]|RequestLimitExceeded|ThrottlingException|api error InternalError"
)
Program = Callable[[], None]
EventHandler = Callable[[Any], None]


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


class SessionCommand(auto.PulumiCommand):
    """PulumiCommand that starts the CLI in its own session and tracks it for signal forwarding.

    The engine is pinned and verified when it is installed, so its version is known without asking
    it (the stock PulumiCommand starts ``pulumi version`` for every workspace).
    """

    def __init__(self, engine: Engine) -> None:
        # no super().__init__(): it would start the engine to ask its version
        self.command = str(engine.pulumi)
        self.version = VersionInfo.parse(engine.version)

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
    """Stacks of the ``trainctl`` project on the configured backend, driven by one engine.

    Open a job's stack with :class:`orchestrator.engine.jobstack.JobStack`; the workspace itself only
    lists and removes stacks.
    """

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or find_engine(settings.engines)
        require_team_secrets(settings)
        self.env = engine_env(settings, self.engine)
        self.settings_store = settings_store(settings.state_url)
        self._command = SessionCommand(self.engine)

    def local(self, work_dir: Path, program: Program | None = None) -> auto.LocalWorkspace:
        """An Automation workspace in ``work_dir`` (writes the project file there; starts no engine)."""
        with translate_errors("preparing the engine workspace"):
            return auto.LocalWorkspace(
                work_dir=str(work_dir),
                pulumi_home=self.env["PULUMI_HOME"],
                env_vars=self.env,
                program=program,
                secrets_provider=new_stack_provider(self.settings),
                project_settings=auto.ProjectSettings(
                    name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=self.settings.state_url)
                ),
                pulumi_command=self._command,
            )

    def list_stacks(self) -> list[auto.StackSummary]:
        """Every stack of the project on the backend (one engine call)."""
        with scratch_dir() as work_dir:
            return engine_call("listing stacks", lambda: self.local(work_dir).list_stacks(include_all=False))

    def remove_stack(self, job_id: str) -> None:
        """Delete the (empty) stack, its history and its persisted settings.

        A stack that is not there is removed already: a retry after the engine deleted it but failed on
        its history (a throttled bucket) finds none.
        """
        operation = f"removing stack {job_id}"
        with scratch_dir() as work_dir, contextlib.suppress(NotFoundError):
            engine_call(operation, lambda: self.local(work_dir).remove_stack(job_id, force=True), job_id=job_id)
        if self.settings_store is not None:
            self.settings_store.remove(job_id)


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary Automation work directory, removed afterwards (the engine leaves nothing to keep there)."""
    path = Path(tempfile.mkdtemp(prefix="trainctl-engine-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def engine_call(operation: str, run: Callable[[], T], *, secrets: str | None = None, **context: str) -> T:
    """Run one engine call with its errors translated (``translate_errors``).

    A failure of the backend's storage that says it is transient (throttling, a 5xx after the engine's
    own three attempts) is retried under the one retry policy: every engine call trainctl makes is
    safe to repeat (an update converges; a failed one saved its state and released its lock).
    """
    from orchestrator.retry import call_with_retry

    def attempt() -> T:
        with translate_errors(operation, secrets=secrets, **context):
            return run()

    return call_with_retry(operation, attempt, retry_on=lambda e: isinstance(e, TransientCloudError))


@contextmanager
def translate_errors(operation: str, *, secrets: str | None = None, **context: str) -> Iterator[None]:
    """Turn Automation API exceptions into trainctl errors naming ``operation``.

    ``secrets`` names the stack's secrets provider, for the error when it cannot decrypt.
    """
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
        if _THROTTLED.search(text):
            raise TransientCloudError(
                f"{operation}: the backend's storage is throttling: {_engine_message(text)}", context=context
            ) from e
        problem = secrets_failure(operation, text, secrets or "in force", _engine_message(text))
        if problem is not None:
            raise problem from e
        raise CloudError(f"{operation} failed: {_engine_message(text)}", context=context) from e
    except auto_errors.InvalidVersionError as e:
        raise CloudError(f"{operation}: unusable engine version: {e}", hint="run `trainctl engine install --force`") from e


def _engine_message(text: str) -> str:
    """The engine's own error lines, without the command echo and the empty noise around them."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not is_engine_noise(ln)]
    errors = [ln for ln in lines if ln.startswith(("error:", "Error:")) or " error: " in ln]
    chosen = errors or lines[-5:]
    return " | ".join(dict.fromkeys(chosen))[:2000]
