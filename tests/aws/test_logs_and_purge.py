"""Output from CloudWatch Logs (moto) as one byte stream, its S3 fallback, and `down --purge` on AWS."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.cloud import aws
from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import names
from orchestrator.targets.aws.monitor import LogReader
from orchestrator.targets.aws.target import AwsTarget
from orchestrator.testing.faults import FaultProxy, throttle
from orchestrator.testing.moto_server import MotoServer
from tests.aws.conftest import record_for

pytestmark = pytest.mark.moto
GROUP = "/trainctl/jobs/logs-test-abc123"


@pytest.fixture
def logs(moto: MotoServer) -> Any:
    client = aws.client("logs", region="us-east-1")
    client.create_log_group(logGroupName=GROUP)
    for stream in ("output-i-1", "output-i-2", "agent-i-1"):
        client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    return client


def _put(logs: Any, stream: str, lines: list[str], start_ms: int) -> None:
    events = [{"timestamp": start_ms + i, "message": line} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


def _follow(reader: LogReader, offset: int = 0) -> tuple[bytes, int]:
    data, offset = reader.read(offset)
    return data, offset


def test_output_streams_read_in_order_across_pages(logs: Any) -> None:
    """Every output event, across instances (streams) and result pages, in time order; agent logs excluded."""
    now = int(time.time() * 1000)
    _put(logs, "output-i-1", [f"epoch {i}" for i in range(25)], now - 100_000)
    _put(logs, "output-i-2", [f"resumed {i}" for i in range(10)], now - 50_000)
    _put(logs, "agent-i-1", ["agent noise"], now - 60_000)
    data, end = LogReader(logs, GROUP, page_size=7).read(0)
    lines = data.decode().splitlines()
    assert lines == [f"epoch {i}" for i in range(25)] + [f"resumed {i}" for i in range(10)]
    assert end == len(data)


def test_following_returns_only_new_output(logs: Any) -> None:
    """Reads continue from the previous offset: nothing is repeated, nothing is lost, same-millisecond too."""
    now = int(time.time() * 1000)
    reader = LogReader(logs, GROUP)
    _put(logs, "output-i-1", ["one", "two"], now - 10_000)
    first, offset = reader.read(0)
    assert first == b"one\ntwo\n"
    assert reader.read(offset) == (b"", offset)
    logs.put_log_events(
        logGroupName=GROUP, logStreamName="output-i-2", logEvents=[{"timestamp": now - 10_000 + 1, "message": "three"}]
    )
    _put(logs, "output-i-1", ["four"], now - 5_000)
    more, end = reader.read(offset)
    assert more == b"three\nfour\n" and end == offset + len(more)


def test_an_unknown_offset_skips_what_was_already_read(logs: Any) -> None:
    """A reader that has not seen the offset (a new `logs` process) re-reads and skips that many bytes."""
    _put(logs, "output-i-1", ["alpha", "beta"], int(time.time() * 1000) - 1000)
    data, end = LogReader(logs, GROUP).read(6)
    assert data == b"beta\n" and end == 11


def test_missing_log_group_reads_the_s3_copy(moto: MotoServer) -> None:
    """Without CloudWatch output, the output log the instance uploaded to S3 is read, from the offset."""
    s3 = aws.client("s3", region="us-east-1")
    s3.create_bucket(Bucket="trainctl-logs-test")
    s3.put_object(Bucket="trainctl-logs-test", Key=names.OUTPUT_LOG_KEY, Body=b"hello\nworld\n")
    reader = LogReader(aws.client("logs", region="us-east-1"), "/trainctl/jobs/nothing", s3=s3, bucket="trainctl-logs-test")
    assert reader.read(0) == (b"hello\nworld\n", 12)
    assert reader.read(6) == (b"world\n", 12)
    assert reader.read(12) == (b"", 12)


def test_target_read_log_survives_throttling(faults: FaultProxy, logs: Any, make_job: Callable[..., CompiledJob]) -> None:
    """`logs -f` on AWS: throttled reads return nothing new (the next poll catches up), then the output."""
    job = make_job(job_id="logs-test-abc123", name="logs-test")
    record = record_for(job)
    _put(logs, "output-i-1", ["line"], int(time.time() * 1000) - 1000)
    target = AwsTarget()
    faults.add(throttle("FilterLogEvents", json_api=True, times=3))
    assert target.read_log(record, 0) == (b"", 0)
    assert target.read_log(record, 0) == (b"line\n", 5)


def test_purge_deletes_every_version_the_bucket_and_the_log_group(logs: Any, make_job: Callable[..., CompiledJob]) -> None:
    """`down --purge` removes the versioned bucket (all versions and delete markers) and the log group."""
    job = make_job(job_id="logs-test-abc123", name="logs-test")
    bucket = names.bucket_name(job.job_id)
    s3 = aws.client("s3", region="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="checkpoints/a", Body=body)
    s3.delete_object(Bucket=bucket, Key="checkpoints/a")
    record = record_for(job)
    assert AwsTarget().purge(record) == [f"s3://{bucket}", f"logs:{GROUP}"]
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"] == []
    assert AwsTarget().purge(record) == []


def test_retained_storage_is_found_for_adoption(moto: MotoServer, make_job: Callable[..., CompiledJob]) -> None:
    """The program's storage check sees the retained bucket and log group of an earlier allocation."""
    from orchestrator.targets.aws.program import Existing, existing_storage

    job = make_job(job_id="logs-test-abc123", name="logs-test")
    account = aws.client("sts", region="us-east-1").get_caller_identity()["Account"]
    assert existing_storage(job, None) == Existing(bucket=False, log_group=False, account_id=account)
    aws.client("s3", region="us-east-1").create_bucket(Bucket=names.bucket_name(job.job_id))
    aws.client("logs", region="us-east-1").create_log_group(logGroupName=names.log_group_name(job.job_id))
    assert existing_storage(job, None) == Existing(bucket=True, log_group=True, account_id=account)


def test_a_multi_node_jobs_output_is_read_per_node(logs: Any, make_job: Callable[..., CompiledJob], moto: MotoServer) -> None:
    """Rank 0's streams are the job's output; node 1's (`node1-output-*`, or its S3 copy) are read apart."""
    job = make_job(job_id="logs-test-abc123", name="logs-test")
    record = record_for(job)
    now = int(time.time() * 1000)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="node1-output-i-2")
    _put(logs, "output-i-1", ["rank 0 line"], now - 2000)
    _put(logs, "node1-output-i-2", ["rank 1 line"], now - 1000)
    target = AwsTarget()
    assert target.read_log(record, 0) == (b"rank 0 line\n", 12)
    assert target.read_log(record, 0, node=1) == (b"rank 1 line\n", 12)
    s3 = aws.client("s3", region="us-east-1")
    s3.create_bucket(Bucket="trainctl-logs-test")
    s3.put_object(Bucket="trainctl-logs-test", Key="nodes/2/output.log", Body=b"rank 2 copy\n")
    reader = LogReader(
        logs, GROUP, s3=s3, bucket="trainctl-logs-test", stream_prefix=names.node_stream_prefix(2), s3_key="nodes/2/output.log"
    )
    assert reader.read(0) == (b"rank 2 copy\n", 12)
