"""The backend object store: the same behaviour on a file backend and on an S3 backend (moto)."""

from __future__ import annotations

import multiprocessing
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from orchestrator.errors import CloudError, InvalidInputError, TransientCloudError
from orchestrator.store import BackendStore, backend_store
from orchestrator.testing.moto_server import MotoServer

BUCKET = "team-state"


def _s3_url(moto: MotoServer, prefix: str = "team/a") -> str:
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/{prefix}?region=us-east-1"


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendStore]:
    """A store of each kind: a file backend in tmp_path, an S3 backend in a fresh moto bucket."""
    if request.param == "file":
        yield backend_store(f"file://{tmp_path / 'state'}")
    else:
        moto: MotoServer = request.getfixturevalue("moto")
        yield backend_store(_s3_url(moto))


def test_missing_object_reads_none(store: BackendStore) -> None:
    """An object never written reads None, with or without its version; deleting it is no error."""
    assert store.read("jobs/none.json") is None
    assert store.read_versioned("jobs/none.json") is None
    store.delete("jobs/none.json")


def test_write_read_list_delete(store: BackendStore) -> None:
    """Written objects read back, list under their prefix with a version, and go away on delete."""
    store.write("jobs/a.json", b'{"a": 1}')
    store.write("jobs/b.json", b'{"b": 2}')
    store.write("policy/team.json", b"{}")
    assert store.read("jobs/a.json") == b'{"a": 1}'
    listed = store.list("jobs/")
    assert [item.key for item in listed] == ["jobs/a.json", "jobs/b.json"]
    assert all(item.version for item in listed)
    assert [item.key for item in store.list("")] == ["jobs/a.json", "jobs/b.json", "policy/team.json"]
    store.delete("jobs/a.json")
    assert store.read("jobs/a.json") is None
    assert [item.key for item in store.list("jobs/")] == ["jobs/b.json"]


def test_version_changes_when_replaced(store: BackendStore) -> None:
    """A replaced object lists with a new version, and read_versioned agrees with the listing."""
    store.write("jobs/a.json", b"one")
    first = store.list("jobs/")[0].version
    found = store.read_versioned("jobs/a.json")
    assert found is not None and found.version == first and found.data == b"one"
    store.write("jobs/a.json", b"second")
    assert store.list("jobs/")[0].version != first


def test_conditional_writes(store: BackendStore) -> None:
    """write_if(None) creates only a missing object; write_if(v) replaces only the version v it was read at."""
    assert store.write_if("policy/team.json", b"v1", version=None) is True
    assert store.write_if("policy/team.json", b"other", version=None) is False
    read = store.read_versioned("policy/team.json")
    assert read is not None and read.data == b"v1"
    assert store.write_if("policy/team.json", b"v2", version=read.version) is True
    assert store.write_if("policy/team.json", b"stale", version=read.version) is False
    assert store.read("policy/team.json") == b"v2"


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "jobs/../../x", "jobs//a"])
def test_bad_keys_are_refused(store: BackendStore, key: str) -> None:
    """Keys that could leave the store (absolute, '..', empty parts) are invalid input, never read or written."""
    with pytest.raises(InvalidInputError):
        store.write(key, b"x")


def test_file_store_is_private(tmp_path: Path) -> None:
    """A file backend's objects sit under <state dir>/.trainctl/ with files 0600 in directories 0700."""
    store = backend_store(f"file://{tmp_path / 'state'}")
    store.write("jobs/a.json", b"x")
    path = tmp_path / "state" / ".trainctl" / "jobs" / "a.json"
    assert path.read_bytes() == b"x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.location == f"file://{tmp_path / 'state' / '.trainctl'}"


def test_file_store_listing_skips_writes_in_progress(tmp_path: Path) -> None:
    """Temporary files of writes in progress and lock files never show as objects."""
    store = backend_store(f"file://{tmp_path / 'state'}")
    store.write_if("jobs/a.json", b"x", version=None)
    (tmp_path / "state" / ".trainctl" / "jobs" / ".a.json.123.tmp").write_bytes(b"half")
    assert [item.key for item in store.list("jobs/")] == ["jobs/a.json"]


def _race(root: str, version: str, index: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = backend_store(f"file://{root}")
    results.put(store.write_if("policy/team.json", f"writer {index}".encode(), version=version))


def test_file_conditional_write_has_one_winner_across_processes(tmp_path: Path) -> None:
    """Eight processes replacing the same version at once: exactly one succeeds, its content stays."""
    store = backend_store(f"file://{tmp_path / 'state'}")
    store.write("policy/team.json", b"v0")
    read = store.read_versioned("policy/team.json")
    assert read is not None
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_race, args=(str(tmp_path / "state"), read.version, i, results)) for i in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    outcomes = [results.get(timeout=5) for _ in procs]
    assert outcomes.count(True) == 1
    final = store.read("policy/team.json")
    assert final is not None and final.startswith(b"writer ")


def test_s3_objects_live_under_the_prefix(moto: MotoServer) -> None:
    """An S3 backend's objects are under <prefix>/.trainctl/ of the backend's bucket, beside .pulumi/."""
    store = backend_store(_s3_url(moto, "team/a"))
    store.write("jobs/a.json", b"x")
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["team/a/.trainctl/jobs/a.json"]
    assert store.location == f"s3://{BUCKET}/team/a/.trainctl"
    bare = backend_store(f"s3://{BUCKET}")
    bare.write("jobs/b.json", b"y")
    assert bare.read("jobs/b.json") == b"y"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == [".trainctl/jobs/b.json", "team/a/.trainctl/jobs/a.json"]


def test_s3_endpoint_from_the_url(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL's endpoint= and use_path_style= reach the server with no AWS_ENDPOINT_URL in the environment."""
    url = _s3_url(moto)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    store = backend_store(f"{url}&endpoint={moto.url}&use_path_style=true")
    store.write("jobs/a.json", b"x")
    assert store.read("jobs/a.json") == b"x"


def test_s3_endpoint_from_the_service_variable(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without endpoint=, AWS_ENDPOINT_URL_S3 (the SDK's own variable) chooses the server."""
    url = _s3_url(moto)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.url)
    store = backend_store(url)
    store.write("jobs/a.json", b"x")
    assert store.read("jobs/a.json") == b"x"


def test_s3_missing_bucket_is_a_cloud_error_naming_it(moto: MotoServer) -> None:
    """A bucket that does not exist: a permanent CloudError (exit 5) that names the bucket, not a traceback."""
    store = backend_store("s3://no-such-bucket/team?region=us-east-1")
    with pytest.raises(CloudError) as caught:
        store.write("jobs/a.json", b"x")
    assert not caught.value.retryable
    assert "no-such-bucket" in caught.value.message


def _inject(store: BackendStore, status: int, code: str, times: int | None) -> list[int]:
    """Answer the store's next ``times`` S3 requests (all, with None) with an error, before they are sent."""
    from botocore.awsrequest import AWSResponse

    client = store._client()  # type: ignore[attr-defined]
    sent: list[int] = []

    def before_send(request: object, **_: object) -> AWSResponse | None:
        if times is not None and len(sent) >= times:
            return None
        sent.append(1)
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()

        class Raw:
            def stream(self, **_: object) -> Iterator[bytes]:
                yield body

        return AWSResponse("http://fault", status, {}, Raw())  # type: ignore[arg-type]

    client.meta.events.register_first("before-send.s3", before_send)
    return sent


def test_s3_throttling_is_retried(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two SlowDown (503) answers in a row are retried by the one retry policy and the write succeeds."""
    monkeypatch.setenv("TRAINCTL_RETRY_BASE_DELAY_S", "0.01")
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    store = backend_store(_s3_url(moto))
    sent = _inject(store, 503, "SlowDown", times=2)
    store.write("jobs/a.json", b"x")
    assert len(sent) == 2
    assert store.read("jobs/a.json") == b"x"


def test_s3_lasting_5xx_is_retryable_error(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that keeps failing: after the retry budget a retryable TransientCloudError naming the object."""
    monkeypatch.setenv("TRAINCTL_RETRY_BASE_DELAY_S", "0.01")
    monkeypatch.setenv("TRAINCTL_RETRY_MAX_ATTEMPTS", "3")
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    store = backend_store(_s3_url(moto))
    sent = _inject(store, 500, "InternalError", times=None)
    with pytest.raises(TransientCloudError) as caught:
        store.read("jobs/a.json")
    assert caught.value.retryable and len(sent) == 3
    assert "team/a/.trainctl/jobs/a.json" in caught.value.message


@pytest.mark.parametrize("url", ["https://api.pulumi.com", "gs://bucket/prefix"])
def test_backend_without_a_store_is_invalid_input(url: str) -> None:
    """A kind of backend trainctl keeps no objects in is a clear exit-2 error naming the kinds it supports."""
    with pytest.raises(InvalidInputError) as caught:
        backend_store(url)
    assert "file://" in (caught.value.hint or "") and "s3://" in (caught.value.hint or "")


def test_s3_url_parameters() -> None:
    """The engine's URL parameters are read: endpoint, region, either path-style spelling, profile."""
    from orchestrator.cloud.backend_s3 import parse_s3_url

    where = parse_s3_url("s3://b/team/x/?endpoint=http://127.0.0.1:9&region=eu-west-1&s3ForcePathStyle=true&profile=p")
    assert (where.bucket, where.prefix, where.endpoint, where.region, where.path_style, where.profile) == (
        "b",
        "team/x/",
        "http://127.0.0.1:9",
        "eu-west-1",
        True,
        "p",
    )
    assert parse_s3_url("s3://b").prefix == ""
    assert parse_s3_url("s3://b?use_path_style=true").path_style is True
    with pytest.raises(InvalidInputError):
        parse_s3_url("s3:///nobucket")
