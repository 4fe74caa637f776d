"""The one boto3 seam: client configuration, endpoint choice, and AWS errors translated where they enter."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from orchestrator.cloud import aws
from orchestrator.errors import (
    AccessDeniedError,
    CapacityError,
    CloudError,
    ExitCode,
    PrerequisiteMissingError,
    TransientCloudError,
)
from orchestrator.settings import get_settings
from orchestrator.testing import faults as fault_kinds
from orchestrator.testing.faults import FaultProxy


def _client_error(code: str, status: int, message: str = "details") -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "RunInstances")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "kind", "retryable"),
    [
        ("RequestLimitExceeded", 503, TransientCloudError, True),
        ("ThrottlingException", 400, TransientCloudError, True),
        ("InternalError", 500, TransientCloudError, True),
        ("InsufficientInstanceCapacity", 500, CapacityError, False),
        ("SpotMaxPriceTooLow", 400, CapacityError, False),
        ("AccessDenied", 403, AccessDeniedError, False),
        ("ValidationError", 400, CloudError, False),
        ("NoSuchBucket", 404, CloudError, False),
        ("VcpuLimitExceeded", 400, CloudError, False),
    ],
)
def test_client_errors_become_trainctl_errors(code: str, status: int, kind: type[CloudError], retryable: bool) -> None:
    """Throttling/5xx are retryable, capacity goes to the fallback, the rest is a CloudError naming the call."""
    with pytest.raises(kind) as caught, aws.calling("launching the instance (ec2 RunInstances)"):
        raise _client_error(code, status)
    error = caught.value
    assert type(error) is kind and error.retryable is retryable and error.exit_code == ExitCode.CLOUD
    assert error.message.startswith(f"launching the instance (ec2 RunInstances): {code}")
    assert aws.error_code(error) == code and isinstance(error.__cause__, ClientError)


def test_hints_say_what_to_do() -> None:
    """Access and quota errors carry a hint; missing credentials are a prerequisite (exit 2)."""
    denied = aws.translate(_client_error("AccessDenied", 403), "x")
    quota = aws.translate(_client_error("VcpuLimitExceeded", 400), "x")
    assert denied is not None and "docs/aws.md" in (denied.hint or "")
    assert quota is not None and "Service Quotas" in (quota.hint or "")
    missing = aws.translate(NoCredentialsError(), "reading status")
    assert isinstance(missing, PrerequisiteMissingError) and missing.exit_code == ExitCode.INVALID_INPUT
    unreachable = aws.translate(EndpointConnectionError(endpoint_url="http://x"), "reading status")
    assert isinstance(unreachable, TransientCloudError)
    assert aws.translate(ValueError("not AWS"), "x") is None


def test_clients_use_standard_retries_and_the_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard retry mode with a small budget; the aws_endpoint_url setting wins over botocore's default."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("TRAINCTL_AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    get_settings.cache_clear()
    client = aws.client("s3", region="eu-west-1", max_attempts=2)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert client.meta.region_name == "eu-west-1"
    assert aws.client("s3", region="eu-west-1", max_attempts=2) is client
    agent = aws.client("s3", region="eu-west-1", use_settings=False)
    assert agent.meta.endpoint_url != "http://127.0.0.1:4566"


@pytest.mark.moto
def test_persistent_5xx_fails_as_transient_after_the_retry_budget(faults: FaultProxy) -> None:
    """A call answered 500 every time is retried to the budget, then a TransientCloudError."""
    faults.add(fault_kinds.server_error("DescribeSubnets"))
    ec2 = aws.client("ec2", region="us-east-1", max_attempts=2)
    with pytest.raises(TransientCloudError), aws.calling("listing subnets"):
        ec2.describe_subnets()
    assert faults.count("DescribeSubnets", "server-error") == 2


@pytest.mark.moto
def test_fault_proxy_injects_at_a_seeded_rate_and_can_be_slow(faults: FaultProxy) -> None:
    """At rate 0.5 some calls fail and some pass through; a slow fault delays but forwards."""
    faults.add(fault_kinds.throttle("DescribeVpcs", rate=0.5))
    ec2 = aws.client("ec2", region="us-east-1", max_attempts=1)
    outcomes = []
    for _ in range(12):
        try:
            ec2.describe_vpcs()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("throttled")
    assert 0 < outcomes.count("throttled") < 12
    faults.clear()
    faults.add(fault_kinds.slow("DescribeVpcs", 0.3))
    started = time.monotonic()
    assert ec2.describe_vpcs()["Vpcs"]
    assert time.monotonic() - started >= 0.3
