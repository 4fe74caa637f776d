"""The one exception root of trainctl.

Every error carries the exit code of its family (the table in README.md, "Exit codes"), whether retrying the same
operation could help, and a hint that says what to do next. Third-party exceptions are translated
into these where they enter trainctl, with ``raise ... from e``; the CLI decides the process exit
code from the error alone (see ``orchestrator.cli.main``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ExitCode:
    """Process exit codes: the contract in README.md ("Exit codes"), named once."""

    OK = 0
    INTERNAL = 1
    INVALID_INPUT = 2
    POLICY_BLOCKED = 3
    CONFLICT = 4
    CLOUD = 5
    RUN_FAILED = 6
    WAIT_TIMEOUT = 7
    SIGINT = 130
    SIGTERM = 143


class TrainctlError(Exception):
    """Root of every error trainctl raises on purpose."""

    exit_code: ClassVar[int] = ExitCode.INTERNAL
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        context: Mapping[str, object] | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: dict[str, object] = dict(context or {})
        self.details: list[str] = list(details or [])

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form for `--output json` and for logs."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "exit_code": self.exit_code,
            "retryable": self.retryable,
            "hint": self.hint,
            "context": {k: str(v) for k, v in self.context.items()},
            "details": self.details,
        }


class InternalError(TrainctlError):
    """A bug in trainctl: an invariant did not hold."""


class InvalidInputError(TrainctlError):
    """The spec, a setting or the command line is wrong; the user must change it."""

    exit_code = ExitCode.INVALID_INPUT


class SpecError(InvalidInputError):
    """A job spec failed to load or validate; ``details`` holds one line per problem."""


class SettingsError(InvalidInputError):
    """A trainctl setting (environment or config.toml) is invalid."""


class SecretsProviderError(SettingsError):
    """The secrets provider of a job's stack cannot encrypt or decrypt (missing or wrong key, no access).

    Raised before the engine changes anything: the stack's secrets are decrypted when an operation starts.
    """


class PrerequisiteMissingError(InvalidInputError):
    """Something trainctl needs on this machine is missing (engine, toolchain, credentials)."""


class NotFoundError(InvalidInputError):
    """A named job, file or resource does not exist."""


class PriceNotFoundError(InvalidInputError):
    """The price catalog has no price for that region, instance type, purchase option or storage kind.

    Never answered with a default: the message names what was asked for, the hint lists what the
    catalog does know nearby (same-family sizes, or the known regions).
    """


class PolicyViolationError(TrainctlError):
    """A mandatory policy said no; nothing was allocated."""

    exit_code = ExitCode.POLICY_BLOCKED


class ConflictError(TrainctlError):
    """The job's stack is locked or another operation on it is in progress."""

    exit_code = ExitCode.CONFLICT


class LockHeldError(ConflictError):
    """A live process holds the stack lock; waiting for it may succeed."""

    retryable = True


class CloudError(TrainctlError):
    """The cloud provider or the engine failed and retries did not fix it."""

    exit_code = ExitCode.CLOUD


class TransientCloudError(CloudError):
    """Throttling, a 5xx, a reset connection: the same call may succeed later."""

    retryable = True


class AccessDeniedError(CloudError):
    """The provider refused the call for lack of permission: retrying cannot help."""


class CapacityError(CloudError):
    """The provider has no capacity for the request (goes to the fallback path, not to retry)."""


class EngineMissingError(PrerequisiteMissingError):
    """The Pulumi engine is not installed or cannot be built here."""


class RunFailedError(TrainctlError):
    """The training command exited non-zero (after any allowed retries)."""

    exit_code = ExitCode.RUN_FAILED


class WaitTimeoutError(TrainctlError):
    """`trainctl wait` gave up after its --timeout; the job keeps running, so waiting again may see it end."""

    exit_code = ExitCode.WAIT_TIMEOUT
    retryable = True


class InterruptedBySignal(TrainctlError):
    """trainctl stopped gracefully after SIGINT (exit 130)."""

    exit_code = ExitCode.SIGINT


class TerminatedBySignal(InterruptedBySignal):
    """trainctl stopped gracefully after SIGTERM (exit 143)."""

    exit_code = ExitCode.SIGTERM


def interrupted(signum: int, message: str, **kwargs: object) -> InterruptedBySignal:
    """The error for a graceful stop after signal ``signum``."""
    cls = TerminatedBySignal if signum == 15 else InterruptedBySignal
    return cls(message, **kwargs)  # type: ignore[arg-type]
