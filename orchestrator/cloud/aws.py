"""The ONE place boto3 clients are built, and where AWS errors become trainctl errors.

Clients get a botocore ``Config`` with standard retries and a small attempt budget: one attempt for
clients whose calls all run under the one retry policy of ``orchestrator.retry`` (``call``), two for the
rest, so the budgets never multiply into minutes. The endpoint comes from the ``aws_endpoint_url``
setting when set, else botocore honours ``AWS_ENDPOINT_URL`` itself. Errors are translated where they
enter trainctl (``calling``): throttling, 5xx and dropped connections are TransientCloudError
(retryable), capacity answers are CapacityError (the fallback path), refusals are AccessDeniedError,
missing credentials are a missing prerequisite, everything else is a CloudError; each names the
operation and the resource it was about.

The agent ships this module to instances: it imports only the standard library and
``orchestrator.errors`` at module level (boto3, the settings and the retry policy are imported where
used). Where the retry policy is not installed (the agent on an instance has boto3 only), ``call``
makes one attempt and botocore's own retries are all there is: give such clients a larger budget.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from orchestrator.errors import (
    AccessDeniedError,
    CapacityError,
    CloudError,
    PrerequisiteMissingError,
    TrainctlError,
    TransientCloudError,
)

T = TypeVar("T")
# botocore's own attempts per request. Clients whose every call goes through ``call`` take CALL_MAX_ATTEMPTS:
# the one retry policy is then the only retry layer (each retry logged, budgets set by TRAINCTL_RETRY_*).
# Others keep a small botocore budget of their own (DEFAULT_MAX_ATTEMPTS), so budgets never multiply far.
CALL_MAX_ATTEMPTS = 1
DEFAULT_MAX_ATTEMPTS = 2
# What the retry policy needs besides this module; the agent on an instance has none of it.
_RETRY_MODULES = (
    "orchestrator.retry",
    "orchestrator.settings",
    "orchestrator.logs",
    "tenacity",
    "structlog",
    "pydantic_settings",
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Answers meaning "no room for this request now": the caller's fallback decides, retrying does not help.
CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacityOnHost",
        "InsufficientFreeAddressesInSubnet",
        "SpotMaxPriceTooLow",
        "MaxSpotInstanceCountExceeded",
        "UnfulfillableCapacity",
    }
)
QUOTA_CODES = frozenset({"VcpuLimitExceeded", "InstanceLimitExceeded", "LimitExceededException", "TooManyBuckets"})
NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NotFound",
        "NoSuchKey",
        "NoSuchBucket",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "ParameterNotFound",
        "InvalidInstanceID.NotFound",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidGroup.NotFound",
    }
)
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthFailure",
        "Forbidden",
        "403",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
    }
)
_CREDENTIALS_HINT = "configure AWS credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID) for the account to use"

_lock = threading.Lock()
_clients: dict[tuple[str | None, ...], Any] = {}
_sessions: dict[tuple[str | None, ...], Any] = {}  # per identity: service models are loaded once, not per client
_answers: dict[tuple[str | None, ...], Any] = {}  # answers asked once per command (quotas), per identity
# Who hears of each API call a client built here makes, as (boto3 service name, operation name): tests
# record them (tests/aws/test_iam_coverage.py) to check the IAM policies grant every call trainctl makes.
_call_listeners: list[Callable[[str, str], None]] = []


def client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    use_settings: bool = True,
    path_style: bool = False,
    profile: str | None = None,
) -> Any:
    """A boto3 client for ``service`` (cached per service, region, endpoint, attempts, options and identity).

    ``use_settings=False`` skips trainctl's settings (the agent on an instance has none): then only an
    explicit ``endpoint_url`` or botocore's own ``AWS_ENDPOINT_URL`` handling choose the endpoint.
    ``path_style`` addresses S3 buckets in the path (S3-compatible servers); ``profile`` names the AWS
    profile to use instead of the environment's.
    """
    endpoint = endpoint_url or (configured_endpoint() if use_settings else None)
    identity = (*_identity(), profile)
    key = (service, region, endpoint, str(max_attempts), str(path_style), *identity)
    with _lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
        import boto3
        from botocore.config import Config

        session = _sessions.get(identity)
        if session is None:
            with calling("opening the AWS session", profile=profile or "default"):
                session = _sessions[identity] = boto3.session.Session(profile_name=profile)

        config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="trainctl",
            s3={"addressing_style": "path"} if path_style else None,
        )
        with calling(f"creating the {service} client"):
            built = session.client(service, region_name=region, endpoint_url=endpoint, config=config)
        built.meta.events.register("before-call", functools.partial(_tell_listeners, service))
        built.meta.events.register("before-call", _call_started)
        built.meta.events.register("after-call", functools.partial(_call_answered, service))
        built.meta.events.register("after-call-error", functools.partial(_call_failed, service))
        _trace_calls(built, service)
        _clients[key] = built
        return built


def _trace_calls(built: Any, service: str) -> None:
    """With tracing on, one span per API call of ``built`` (service, operation, request id, retries)."""
    from orchestrator import tracing

    tracing.instrument_client(built.meta.events, service)


@contextmanager
def listening(listener: Callable[[str, str], None]) -> Iterator[None]:
    """Within the block, ``listener(service, operation)`` hears of every call made by clients built here."""
    _call_listeners.append(listener)
    try:
        yield
    finally:
        _call_listeners.remove(listener)


def _tell_listeners(service: str, *, model: Any, **_: Any) -> None:
    for listener in list(_call_listeners):
        listener(service, model.name)


# Metrics of every API call (orchestrator.metrics.journal): latency by service, operation and outcome
# (ok; retried: a transient failure, which the retry policy or botocore tries again; error), and the
# transient failures counted as retries. Recording is off where no trainctl home is active (instances).
def _call_started(*, model: Any, context: dict[str, Any], **_: Any) -> None:
    context["trainctl_call"] = (model.name, time.monotonic())


def _call_answered(service: str, *, http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
    status = int(getattr(http_response, "status_code", 0) or 0)
    code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) and status >= 300 else None
    if status < 300:
        outcome = "ok"
    elif status >= 500 or code in THROTTLING_CODES:
        outcome = "retried"
    else:
        outcome = "error"
    _record_call(service, context, outcome)


def _call_failed(service: str, *, context: dict[str, Any], **_: Any) -> None:
    _record_call(service, context, "retried")  # no answer at all: a dropped connection or a timeout, retried


def _record_call(service: str, context: dict[str, Any], outcome: str) -> None:
    started = context.pop("trainctl_call", None)
    if started is None:
        return
    operation, at = started
    try:
        from orchestrator.metrics import journal
    except ImportError:  # an agent bundle without it
        return
    journal.record(
        "trainctl_cloud_api_call_duration_seconds", time.monotonic() - at, service=service, operation=operation, outcome=outcome
    )
    if outcome == "retried":
        journal.record("trainctl_cloud_api_retries_total", service=service, operation=operation)


def call(operation: str, func: Callable[[], T], *, max_total_s: float | None = None, **context: str) -> T:
    """Run ``func`` (the AWS calls of ``operation``) under the one retry policy; errors leave translated.

    Only retryable errors (throttling, 5xx, dropped connections) are retried, with full-jitter backoff
    within the ``TRAINCTL_RETRY_*`` attempts and total time (``max_total_s`` lowers the latter); every
    retry is logged. Permanent errors (access denied, validation, not found) and capacity errors leave
    at once. ``func`` must be safe to repeat: a paginated listing restarts from its first page.
    """

    from orchestrator import tracing

    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        with calling(operation, **context):
            return func()

    with tracing.span(operation, **{"trainctl.cloud_operation": operation}) as span:
        try:
            return retrying(operation, attempt, max_total_s=max_total_s)
        finally:
            if span is not None:
                span.set_attribute("trainctl.retries", max(0, attempts - 1))


def retrying(operation: str, func: Callable[[], T], *, max_total_s: float | None = None) -> T:
    """``func`` (which raises trainctl errors) under ``orchestrator.retry``'s policy; once where it is not installed."""
    if not retry_available():
        return func()
    import dataclasses

    from orchestrator.retry import RetryPolicy, call_with_retry

    policy = RetryPolicy.from_settings()
    if max_total_s is not None and max_total_s < policy.max_total_s:
        policy = dataclasses.replace(policy, max_total_s=max_total_s)
    return call_with_retry(operation, func, policy)


@functools.cache
def retry_available() -> bool:
    """Whether trainctl's retry policy can run here (not on an instance, where the agent has boto3 only)."""
    from importlib.util import find_spec

    try:
        return all(find_spec(name) is not None for name in _RETRY_MODULES)
    except ImportError:  # a parent package is missing altogether
        return False


def remembered(key: tuple[str, ...], ask: Callable[[], T]) -> T:
    """``ask()``'s answer, asked once per process (one trainctl command) and AWS identity.

    For answers that do not change within a command and cost a call each (Service Quotas). Errors are
    not remembered: ``ask`` returns what it wants kept (a refusal included).
    """
    full = (*key, *_identity())
    with _lock:
        if full in _answers:
            return cast(T, _answers[full])
    answer = ask()
    with _lock:
        return cast(T, _answers.setdefault(full, answer))


def _identity() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL"))


def has_credentials() -> bool:
    """Whether botocore finds AWS credentials (environment, profile, SSO, container or instance role)."""
    import boto3

    with calling("resolving AWS credentials"):
        return boto3.session.Session().get_credentials() is not None


def caller_arn(region: str) -> str:
    """The ARN of the AWS identity in use (STS GetCallerIdentity); a trainctl error when it cannot be read."""
    sts = client("sts", region=region, max_attempts=CALL_MAX_ATTEMPTS)
    return str(call("reading the caller's identity (sts GetCallerIdentity)", sts.get_caller_identity)["Arn"])


def clear_clients() -> None:
    """Forget cached clients, sessions and remembered answers (tests that switch credentials or endpoints)."""
    with _lock:
        _clients.clear()
        _sessions.clear()
        _answers.clear()


def configured_endpoint() -> str | None:
    """The ``aws_endpoint_url`` setting (``TRAINCTL_AWS_ENDPOINT_URL`` or config.toml), if any."""
    from orchestrator.settings import get_settings

    return get_settings().aws_endpoint_url


@contextmanager
def calling(operation: str, **context: str) -> Iterator[None]:
    """Run AWS calls for ``operation``; their exceptions leave as trainctl errors (``raise ... from e``)."""
    try:
        yield
    except TrainctlError:
        raise
    except Exception as e:
        translated = translate(e, operation, context)
        if translated is None:
            raise
        raise translated from e


def translate(error: BaseException, operation: str, context: Mapping[str, str] | None = None) -> TrainctlError | None:
    """The trainctl error for a botocore exception raised by ``operation`` (None: not an AWS error)."""
    from botocore import exceptions as bx

    ctx: dict[str, object] = {"operation": operation, **(context or {})}
    if isinstance(error, bx.ClientError):
        return _client_error(error, operation, ctx)
    if _is_transfer_error(error):
        inner = _transfer_cause(error)
        if inner is not None:
            return _client_error(inner, operation, ctx)
        return TransientCloudError(f"{operation}{_about(ctx)}: S3 transfer failed: {error}", context=ctx)
    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError | bx.NoRegionError | bx.ProfileNotFound):
        return PrerequisiteMissingError(f"{operation}{_about(ctx)}: {error}", context=ctx, hint=_CREDENTIALS_HINT)
    if isinstance(error, _dropped()):
        text = f"{operation}{_about(ctx)}: cannot reach AWS or the connection dropped: {error}"
        return TransientCloudError(text, context=ctx, hint="check the network, then retry")
    if isinstance(error, bx.BotoCoreError):
        return CloudError(f"{operation}{_about(ctx)} failed: {error}", context=ctx)
    return None


def _dropped() -> tuple[type[Exception], ...]:
    from botocore import exceptions as bx

    return (
        bx.EndpointConnectionError,
        bx.ConnectTimeoutError,
        bx.ReadTimeoutError,
        bx.ConnectionClosedError,
        bx.ResponseStreamingError,
        bx.IncompleteReadError,
    )


def error_code(error: BaseException) -> str | None:
    """The AWS error code behind a translated error (or a raw botocore ClientError)."""
    if isinstance(error, TrainctlError):
        code = error.context.get("code")
        return str(code) if code is not None else None
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_not_found(error: BaseException) -> bool:
    """Whether ``error`` says the thing asked for does not exist."""
    return error_code(error) in NOT_FOUND_CODES


def _is_transfer_error(error: BaseException) -> bool:
    """boto3's S3 transfer errors: upload_file wraps a ClientError, a download gives up on dropped connections."""
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError

    return isinstance(error, S3UploadFailedError | S3TransferFailedError)


def _transfer_cause(error: BaseException) -> Any:
    """The ClientError behind a transfer error, if any."""
    from botocore.exceptions import ClientError

    for inner in (error.__cause__, error.__context__):
        if isinstance(inner, ClientError):
            return inner
    return None


def _about(ctx: Mapping[str, object]) -> str:
    """The resource a call was about, from its context: `` for bucket trainctl-x``."""
    named = [f"{key.replace('_', ' ')} {value}" for key, value in ctx.items() if key not in ("operation", "code")]
    return f" for {', '.join(named)}" if named else ""


def _client_error(error: Any, operation: str, ctx: dict[str, object]) -> TrainctlError:
    info = error.response.get("Error", {})
    code = str(info.get("Code") or "Unknown")
    message = str(info.get("Message") or "").strip()
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"{operation}{_about(ctx)}: {code}" + (f": {message}" if message else "")
    ctx["code"] = code
    if code in CAPACITY_CODES:
        return CapacityError(text, context=ctx, hint="try again later, another region or instance type, or allow on-demand")
    if code in THROTTLING_CODES or status >= 500 or status == 429:
        return TransientCloudError(text, context=ctx, hint="AWS is throttling or failing this call; retry shortly")
    if code in QUOTA_CODES:
        return CloudError(
            text,
            context=ctx,
            hint="an AWS quota is exhausted: raise it in Service Quotas (e.g. 'Running On-Demand G and VT instances')",
        )
    if code in ACCESS_CODES:
        return AccessDeniedError(
            text, context=ctx, hint="the AWS identity in use lacks this permission; docs/aws.md lists the policy trainctl needs"
        )
    return CloudError(text, context=ctx)
