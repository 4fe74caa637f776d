"""The ONE place boto3 clients are built, and where AWS errors become trainctl errors.

Clients get a botocore ``Config`` with standard retries and a small attempt budget; the endpoint comes
from the ``aws_endpoint_url`` setting when set, else botocore honours ``AWS_ENDPOINT_URL`` itself.
Errors are translated where they enter trainctl (``calling``): throttling, 5xx and dropped connections
are TransientCloudError (retryable), capacity answers are CapacityError (the fallback path), missing
credentials are a missing prerequisite, everything else is a CloudError naming the operation.

The agent ships this module to instances: it imports only the standard library and
``orchestrator.errors`` at module level (boto3 and the settings are imported where used).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from orchestrator.errors import CapacityError, CloudError, PrerequisiteMissingError, TrainctlError, TransientCloudError

DEFAULT_MAX_ATTEMPTS = 3
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
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403", "InvalidClientTokenId", "ExpiredToken"}
)
_CREDENTIALS_HINT = "configure AWS credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID) for the account to use"

_lock = threading.Lock()
_clients: dict[tuple[str | None, ...], Any] = {}


def client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    use_settings: bool = True,
) -> Any:
    """A boto3 client for ``service`` (cached per service, region, endpoint, attempts and identity).

    ``use_settings=False`` skips trainctl's settings (the agent on an instance has none): then only an
    explicit ``endpoint_url`` or botocore's own ``AWS_ENDPOINT_URL`` handling choose the endpoint.
    """
    endpoint = endpoint_url or (configured_endpoint() if use_settings else None)
    identity = tuple(os.environ.get(name) for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL"))
    key = (service, region, endpoint, str(max_attempts), *identity)
    with _lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="trainctl",
        )
        with calling(f"creating the {service} client"):
            built = boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=config)
        _clients[key] = built
        return built


def clear_clients() -> None:
    """Forget cached clients (tests that switch credentials or endpoints)."""
    with _lock:
        _clients.clear()


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
    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError | bx.NoRegionError):
        return PrerequisiteMissingError(f"{operation}: {error}", context=ctx, hint=_CREDENTIALS_HINT)
    if isinstance(error, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError | bx.ConnectionClosedError):
        return TransientCloudError(f"{operation}: cannot reach AWS: {error}", context=ctx, hint="check the network, then retry")
    if isinstance(error, bx.BotoCoreError):
        return CloudError(f"{operation} failed: {error}", context=ctx)
    return None


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


def _client_error(error: Any, operation: str, ctx: dict[str, object]) -> TrainctlError:
    info = error.response.get("Error", {})
    code = str(info.get("Code") or "Unknown")
    message = str(info.get("Message") or "").strip()
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    ctx["code"] = code
    text = f"{operation}: {code}" + (f": {message}" if message else "")
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
        return CloudError(
            text, context=ctx, hint="the AWS identity in use lacks this permission; docs/aws.md lists the policy trainctl needs"
        )
    return CloudError(text, context=ctx)
