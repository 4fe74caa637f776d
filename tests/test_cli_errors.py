"""Exit codes are decided in one place; settings errors exit 2; tracebacks only with --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import errors
from orchestrator.cli import main as cli_main
from orchestrator.errors import ExitCode
from tests.conftest import EXAMPLES, trainctl_cmd


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (errors.InternalError("x"), 1, False),
        (errors.SpecError("x"), 2, False),
        (errors.SettingsError("x"), 2, False),
        (errors.PolicyViolationError("x"), 3, False),
        (errors.ConflictError("x"), 4, False),
        (errors.LockHeldError("x"), 4, True),
        (errors.CloudError("x"), 5, False),
        (errors.TransientCloudError("x"), 5, True),
        (errors.RunFailedError("x"), 6, False),
        (errors.interrupted(2, "x"), 130, False),
        (errors.interrupted(15, "x"), 143, False),
    ],
)
def test_error_families_carry_exit_code_and_retryability(error: errors.TrainctlError, code: int, retryable: bool) -> None:
    """Each error family maps to its exit code (README.md, "Exit codes") and knows whether it is retryable."""
    assert isinstance(error, errors.TrainctlError)
    assert error.exit_code == code
    assert error.retryable is retryable


def _raise(error: BaseException):  # type: ignore[no-untyped-def]
    def command(*args: object, **kwargs: object) -> None:
        raise error

    return command


@pytest.fixture
def boom_command(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make `trainctl schema` raise a chosen exception."""
    import orchestrator.cli.commands.schema as schema

    def install(error: BaseException) -> None:
        monkeypatch.setattr(schema.command, "callback", _raise(error))

    return install


def test_trainctl_error_exit_code_and_hint(cli, boom_command) -> None:
    """A TrainctlError becomes its exit code, message and hint on stderr, no traceback."""
    boom_command(errors.ConflictError("stack is locked", hint="wait for it"))
    result = cli("schema")
    assert result.exit_code == ExitCode.CONFLICT
    assert "error: stack is locked" in result.stderr
    assert "hint: wait for it" in result.stderr
    assert "Traceback" not in result.stderr


def test_unexpected_exception_is_exit_1_without_traceback(cli, boom_command) -> None:
    """A bug exits 1 with a one-line report; the traceback needs --debug."""
    boom_command(ZeroDivisionError("division by zero"))
    result = cli("schema")
    assert result.exit_code == 1
    assert "internal error: ZeroDivisionError" in result.stderr
    assert "Traceback" not in result.stderr
    debug = cli("--debug", "schema")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr


def test_json_error_goes_to_stdout(cli, tmp_path: Path) -> None:
    """With --output json the error is also a JSON object on stdout."""
    result = cli("validate", str(tmp_path / "missing.yaml"), "--output", "json")
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["exit_code"] == 2 and payload["error"] == "SpecError"


def test_usage_error_exits_2(cli) -> None:
    """An unknown command or option is invalid input: exit 2."""
    assert cli("no-such-command").exit_code == 2
    assert cli("validate", "--no-such-flag").exit_code == 2


def test_bad_setting_exits_2_naming_it(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed TRAINCTL_* variable exits 2 and names the variable."""
    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "cheap")
    result = cli("engine", "show")
    assert result.exit_code == 2
    assert "TRAINCTL_LOCAL_HOURLY_USD" in result.stderr


def test_bad_config_toml_exits_2_naming_it(cli, trainctl_home: Path) -> None:
    """A bad value in config.toml exits 2 naming the setting."""
    (trainctl_home / "config.toml").write_text('backend_url = "ftp://nowhere"\n')
    result = cli("engine", "show")
    assert result.exit_code == 2
    assert "TRAINCTL_BACKEND_URL" in result.stderr and "backend URL" in result.stderr


def test_config_toml_is_read(trainctl_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from config.toml when no environment variable overrides them."""
    from orchestrator.settings import load_settings

    (trainctl_home / "config.toml").write_text("local_hourly_usd = 1.25\n")
    assert load_settings().local_hourly_usd == 1.25
    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "2")
    assert load_settings().local_hourly_usd == 2.0


def test_console_script_help_and_validate() -> None:
    """The installed `trainctl` console script runs --help and validate as a user would."""
    help_run = subprocess.run([*trainctl_cmd(), "--help"], capture_output=True, text=True, check=False)
    assert help_run.returncode == 0
    for name in ("validate", "schema", "doctor", "engine"):
        assert name in help_run.stdout
    ok = subprocess.run(
        [*trainctl_cmd(), "validate", str(EXAMPLES / "quickstart/job.yaml")], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["validate", str(EXAMPLES / "quickstart/job.yaml")],
        ["validate", str(EXAMPLES / "aws/job.yaml"), "--output", "json"],
    ],
)
def test_heavy_libraries_stay_off_the_startup_path(argv: list[str]) -> None:
    """--help and validate (of a valid spec: the fast path) import neither pulumi, boto3, botocore,
    structlog, rich nor pydantic."""
    heavy = {"pulumi", "boto3", "botocore", "structlog", "rich", "pydantic", "pydantic_core"}
    probe = (
        "import sys\nfrom orchestrator.cli.main import run\n"
        f"code = run({argv!r})\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r})\n"
        "print('HEAVY', heavy, code, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert "HEAVY [] 0" in result.stderr, result.stderr


def test_main_decides_exit_code_via_sys_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() exits the process with run()'s code."""
    monkeypatch.setattr(cli_main, "run", lambda argv=None: 6)
    with pytest.raises(SystemExit) as exc:
        cli_main.main([])
    assert exc.value.code == 6


def test_log_settings_are_read_from_config_toml(trainctl_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """log_format and log_level in config.toml choose how and what trainctl logs; the command line overrides them."""
    from orchestrator import logs
    from orchestrator.settings import get_settings

    (trainctl_home / "config.toml").write_text('log_format = "json"\nlog_level = "warning"\n')
    get_settings.cache_clear()
    logs.configure_logging()  # what the CLI does without --log-format / --debug
    log = logs.get_logger("test")
    capsys.readouterr()
    log.info("quiet.event")
    log.warning("loud.event", n=1)
    [event] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (event["event"], event["level"], event["n"]) == ("loud.event", "warning", 1)
    logs.configure_logging("console", "debug")  # --log-format console --debug
    logs.get_logger("test").debug("chatty.event")
    err = capsys.readouterr().err
    assert "chatty.event" in err and not err.lstrip().startswith("{")
    logs.configure_logging()
