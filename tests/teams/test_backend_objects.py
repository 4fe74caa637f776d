"""What the engine seam keeps in a team's S3 backend (stack settings, stack tags) and reads from it (locks), on moto."""

from __future__ import annotations

import json
import socket

import pytest

from orchestrator.engine.locks import engine_locks, lock_conflict, stale_engine_locks
from orchestrator.engine.stack_settings import settings_store
from orchestrator.errors import ExitCode, LockHeldError
from orchestrator.testing.faults import FaultProxy, s3_slow_down
from orchestrator.testing.moto_server import MotoServer
from tests.teams.conftest import BUCKET, PREFIX, TeamBackend

LOCK_KEY = ".pulumi/locks/organization/trainctl/{job}/0f0f0f0f-0000-4000-8000-000000000000.json"


def _put_lock(team: TeamBackend, job: str, *, pid: int, host: str, user: str = "alice") -> None:
    holder = {"pid": pid, "username": user, "hostname": host, "timestamp": "2026-12-02T09:00:00Z"}
    team.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{LOCK_KEY.format(job=job)}", Body=json.dumps(holder).encode())  # type: ignore[attr-defined]


def test_stack_settings_and_tags_live_in_the_bucket(team: TeamBackend) -> None:
    """The settings document goes under <prefix>/.trainctl/, the tags object beside the stack's checkpoint."""
    store = settings_store(team.url)
    assert store is not None and store.load("job-1") is None
    store.save("job-1", b"secretsprovider: awskms://alias/x\n")
    store.save_stack_tags("job-1", {"trainctl:job-id": "job-1", "trainctl:team": "vision"})
    assert team.read(".trainctl/stack-settings/trainctl/job-1.yaml") == b"secretsprovider: awskms://alias/x\n"
    tags = json.loads(team.read(".pulumi/stacks/trainctl/job-1.pulumi-tags"))
    assert tags == {"version": 1, "tags": {"trainctl:job-id": "job-1", "trainctl:team": "vision"}}
    assert settings_store(team.url).load("job-1") == b"secretsprovider: awskms://alias/x\n"  # type: ignore[union-attr]
    store.remove("job-1")
    assert store.load("job-1") is None


def test_locks_in_the_bucket_name_their_holder(team: TeamBackend) -> None:
    """A lock object in the bucket names user, host, pid and since: exit 4 says who is in the way."""
    _put_lock(team, "job-1", pid=4242, host="alice-laptop")
    _put_lock(team, "job-2", pid=99, host="bob-desktop", user="bob")
    held = engine_locks(team.url, "job-1")
    assert [(lock.job_id, lock.user, lock.host, lock.pid) for lock in held] == [("job-1", "alice", "alice-laptop", 4242)]
    error = lock_conflict("tearing down (pulumi destroy)", "conflict", {"job_id": "job-1"}, held)
    assert isinstance(error, LockHeldError) and error.exit_code == ExitCode.CONFLICT
    assert "locked by alice on alice-laptop (pid 4242) since 2026-12-02T09:00:00Z" in error.message
    assert {lock.job_id for lock in engine_locks(team.url)} == {"job-1", "job-2"}


def test_only_a_dead_holder_on_this_host_is_stale_in_the_bucket(team: TeamBackend) -> None:
    """Another host's lock is never called stale from here (its holder may be running there)."""
    _put_lock(team, "dead-here", pid=2**22 + 17, host=socket.gethostname())
    _put_lock(team, "elsewhere", pid=2**22 + 17, host="another-host")
    assert [lock.job_id for lock in stale_engine_locks(team.url)] == ["dead-here"]


@pytest.mark.parametrize("url", ["https://api.pulumi.com", "gs://bucket/prefix"])
def test_backends_trainctl_keeps_no_objects_in_have_no_locks_or_settings_store(url: str) -> None:
    """Kinds of backend without an object store here read no locks and keep no settings (nothing fails)."""
    assert engine_locks(url) == [] and settings_store(url) is None


def test_the_fault_proxy_throttles_s3_requests(moto: MotoServer, fault_proxy: FaultProxy) -> None:
    """An S3 request (REST: no Action, no target) gets 503 SlowDown from the proxy; other APIs' requests do not."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    fault_proxy.clear()
    fault_proxy.add(s3_slow_down(times=1))
    once = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    s3 = boto3.client("s3", endpoint_url=fault_proxy.url, region_name="us-east-1", config=once)
    with pytest.raises(ClientError) as throttled:
        s3.list_buckets()
    assert throttled.value.response["Error"]["Code"] == "SlowDown"
    s3.list_buckets()  # the fault was for one request only
    boto3.client("sts", endpoint_url=fault_proxy.url, region_name="us-east-1", config=once).get_caller_identity()
    assert (fault_proxy.count("S3", "throttle"), fault_proxy.count("S3:GET"), fault_proxy.count("GetCallerIdentity")) == (1, 2, 1)
    fault_proxy.clear()
