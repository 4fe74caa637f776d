"""The trainctl entry point: the ONE place where exit codes are decided.

Commands are registered in a table and imported lazily, so ``trainctl --help`` and ``trainctl
validate`` never load pulumi, boto3 or botocore.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# trainctl uses no pydantic plugins; without this pydantic scans every installed distribution's entry
# points on the first model it builds (tens of milliseconds on every start-up).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from orchestrator import __version__
from orchestrator.errors import ExitCode, InternalError, TrainctlError, interrupted
from orchestrator.home import restrict_umask

# name -> (module under orchestrator.cli.commands, one-line help shown by `trainctl --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Write a commented job.yaml (and a train.py) to start from."),
    "validate": ("validate", "Check a job spec; print it normalized."),
    "schema": ("schema", "Print the JSON Schema of the job spec (for editors)."),
    "plan": ("plan", "Preview what `up` would create, with policy results and price."),
    "check": ("check", "Run the policy pack over the offline plan (no engine, no cloud)."),
    "up": ("up", "Allocate and run a job (resumes an unfinished job of that name)."),
    "sweep": ("sweep", "Run one job per point of a parameter grid, N at once, ranked by a metric."),
    "status": ("status", "Show one job, or the newest jobs."),
    "ls": ("ls", "List jobs."),
    "logs": ("logs", "Print a job's output; -f follows it."),
    "top": ("top", "A live view of running and recent jobs (q quits)."),
    "wait": ("wait", "Block until a job ends; the exit code says how it ended."),
    "cancel": ("cancel", "Stop a job gracefully (final checkpoint), then tear it down."),
    "down": ("down", "Tear a job down; --purge also deletes its artifacts."),
    "cost": ("cost", "Cost reports by job, team, owner, target, resource type or sweep."),
    "gc": ("gc", "Find and remove leaked resources, expired jobs and stale locks."),
    "recover": ("recover", "Make a job's state true again after a crash."),
    "policy": ("policy", "Publish and show the team policy kept in the backend."),
    "index": ("index", "Rebuild the job index from the backend's stacks."),
    "doctor": ("doctor", "Check the engine, backend, credentials and policy pack."),
    "engine": ("engine", "Install and inspect the Pulumi engine."),
    "prices": ("prices", "Inspect and refresh the price catalog."),
    "metrics": ("metrics", "Prometheus metrics: serve them for scraping, or show them once."),
    "completion": ("completion", "Print the shell completion script (bash, zsh or fish)."),
}
# Commands that work but are not listed: internal hooks.
HIDDEN: dict[str, str] = {"finalize": "finalize", "watch": "watch"}
# Commands that are never traced: the fast paths (no OpenTelemetry import), and the live view and the
# metrics exporter, whose one trace would end only when they are stopped.
UNTRACED = frozenset({"validate", "schema", "completion", "top", "metrics"})


class LazyGroup(click.Group):
    """A group whose commands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in HIDDEN:
            module_name = HIDDEN[cmd_name]
        elif cmd_name in COMMANDS and _available(cmd_name):
            module_name = COMMANDS[cmd_name][0]
        else:
            return None
        module = importlib.import_module(f"orchestrator.cli.commands.{module_name}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(f"orchestrator.cli.commands.{COMMANDS[name][0]}") is not None


class _Globals:
    debug = False
    command = ""  # the subcommand being run (the Pushgateway groups a push by it)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainctl")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--log-format", type=click.Choice(["auto", "console", "json"]), default=None, help="Log rendering on stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_format: str | None) -> None:
    """trainctl: ML training jobs on cloud GPUs, with Pulumi stacks as the record of what exists."""
    _Globals.debug = debug
    _Globals.command = ctx.invoked_subcommand or ""
    from orchestrator.home import trainctl_home
    from orchestrator.metrics import journal

    journal.activate(trainctl_home())  # this command's counters and histograms go to the home's metrics journal
    from orchestrator.logs import configure_logging

    configure_logging(log_format, "debug" if debug else None)  # else: the log_format / log_level settings


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the code that the outcome decides."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code (never raises). What it creates is private to the user."""
    previous_umask = restrict_umask()
    _Globals.command = ""
    try:
        code = _run(argv)
        _push_metrics()
        return code
    finally:
        os.umask(previous_umask)
        if "orchestrator.metrics.journal" in sys.modules:
            sys.modules["orchestrator.metrics.journal"].deactivate()


def _run(argv: list[str] | None) -> int:
    """Run the CLI; with tracing configured, inside the command's trace (orchestrator/tracing)."""
    name = _traced_command(sys.argv[1:] if argv is None else argv)
    if name is None:
        return _run_command(argv)
    from orchestrator import tracing

    with tracing.command(name) as trace:
        code = _run_command(argv)
        if trace is not None:
            trace.finish(code)
    return code


def _traced_command(argv: list[str]) -> str | None:
    """The command ``argv`` runs when it is one that is traced (not help, not the fast paths), else None."""
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return None
    args = iter(argv)
    for arg in args:
        if arg == "--log-format":
            next(args, None)
        elif not arg.startswith("-"):
            known = arg in COMMANDS or arg in HIDDEN
            return arg if known and arg not in UNTRACED else None
    return None


def _run_command(argv: list[str] | None) -> int:
    from orchestrator.cli.output import reset_output

    reset_output()
    try:
        result: Any = cli.main(args=argv, prog_name="trainctl", standalone_mode=False)
    except TrainctlError as e:
        return _fail(e)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.Abort:
        return _fail(interrupted(2, "aborted"))
    except click.ClickException as e:
        e.show()
        return ExitCode.INVALID_INPUT
    except KeyboardInterrupt:
        return _fail(interrupted(2, "interrupted"))
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as e:  # noqa: BLE001 - the last line of defence: report a bug, exit 1
        if _Globals.debug:
            import traceback

            traceback.print_exc()
        return _fail(
            InternalError(f"internal error: {type(e).__name__}: {e}", hint="rerun with --debug for a traceback and report it")
        )
    return int(result) if isinstance(result, int) else ExitCode.OK


def _push_metrics() -> None:
    """With ``TRAINCTL_PUSHGATEWAY_URL`` (environment, or config.toml when this command read its settings),
    push this command's metrics; a gateway that fails is one warning, never the command's failure."""
    url = os.environ.get("TRAINCTL_PUSHGATEWAY_URL")
    if url is None and "orchestrator.settings" in sys.modules:  # never load the settings only for this
        from orchestrator.settings import get_settings

        try:
            url = get_settings().pushgateway_url
        except TrainctlError:
            url = None
    if not url or not _Globals.command:
        return
    from orchestrator.metrics.push import push_run

    warning = push_run(url, _Globals.command)
    if warning:
        click.echo(f"warning: {warning}", err=True)


def _fail(error: TrainctlError) -> int:
    from orchestrator.cli.output import render_error

    if _Globals.debug and error.__cause__ is not None:
        import traceback

        traceback.print_exception(error)
    render_error(error)
    return int(error.exit_code)
