"""The job index in the backend: shared by every home on one backend, cached locally but never trusted over it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from orchestrator.cloud import aws
from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.settings import get_settings, load_settings
from orchestrator.testing.moto_server import MotoServer
from orchestrator.vocabulary import JobState

BUCKET = "team-state"


def _record(job_id: str, *, owner: str = "alice@example.com", team: str = "vision", created: float = 1.0) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        name=job_id[:-7],
        team=team,
        owner=owner,
        target="local",
        state=JobState.SUCCEEDED,
        created=created,
        torn_down=True,
    )


@pytest.fixture
def team_url(moto: MotoServer) -> str:
    """An S3 team backend in a fresh moto bucket (the endpoint comes from AWS_ENDPOINT_URL, as in CI)."""
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/team?region=us-east-1"


def _ledger(home: Path, url: str) -> Ledger:
    return Ledger.of(load_settings(home=home, backend_url=url))


def _gets(action: Callable[[], object]) -> int:
    """How many S3 GetObject calls ``action`` made."""
    calls: list[str] = []
    with aws.listening(lambda service, operation: calls.append(f"{service}:{operation}")):
        action()
    return calls.count("s3:GetObject")


def test_two_homes_on_one_backend_see_the_same_jobs(team_url: str, tmp_path: Path) -> None:
    """A record saved from one home is listed, loaded and resolved from another home on the same S3 backend."""
    alice, bob = _ledger(tmp_path / "alice", team_url), _ledger(tmp_path / "bob", team_url)
    alice.save(_record("resnet-a1b2c3"))
    assert [r.job_id for r in bob.all()] == ["resnet-a1b2c3"]
    assert bob.resolve("resnet").job_id == "resnet-a1b2c3"
    bob.save(bob.resolve("resnet-a1b2c3").model_copy(update={"state": JobState.CANCELLED}))
    loaded = alice.load("resnet-a1b2c3")
    assert loaded is not None and loaded.state == "cancelled"
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["team/.trainctl/jobs/resnet-a1b2c3.json"]
    assert not (tmp_path / "alice" / "jobs").exists() and not (tmp_path / "alice" / "state").exists()


def test_cache_fetches_only_changed_records(team_url: str, tmp_path: Path) -> None:
    """A second listing fetches nothing; after a teammate changes one record, exactly that one is fetched."""
    alice, bob = _ledger(tmp_path / "alice", team_url), _ledger(tmp_path / "bob", team_url)
    for n in range(5):
        alice.save(_record(f"job{n}-00000{n}", created=n))
    assert _gets(bob.all) == 5
    assert _gets(bob.all) == 0
    alice.save(_record("job2-000002", created=2).model_copy(update={"state": JobState.FAILED}))
    alice.delete("job4-000004")
    records: list[JobRecord] = []
    assert _gets(lambda: records.extend(bob.all())) == 1
    assert {r.job_id: r.state for r in records} == {
        "job3-000003": "succeeded",
        "job2-000002": "failed",
        "job1-000001": "succeeded",
        "job0-000000": "succeeded",
    }
    assert bob.cache is not None and bob.cache.parent == tmp_path / "bob" / "cache" / "index"


def test_cache_is_never_the_truth(team_url: str, tmp_path: Path) -> None:
    """A corrupt or lying cache changes nothing: the listing decides what exists and which versions are current."""
    alice, bob = _ledger(tmp_path / "alice", team_url), _ledger(tmp_path / "bob", team_url)
    alice.save(_record("a-aaaaaa"))
    bob.all()
    assert bob.cache is not None
    doc = json.loads(bob.cache.read_text())
    doc["objects"]["jobs/ghost-000000.json"] = ["x", json.dumps(_record("ghost-000000").model_dump())]
    doc["objects"]["jobs/a-aaaaaa.json"][1] = json.dumps(_record("a-aaaaaa", owner="mallory@example.com").model_dump())
    doc["objects"]["jobs/a-aaaaaa.json"][0] = "stale-version"
    bob.cache.write_text(json.dumps(doc))
    assert [(r.job_id, r.owner) for r in bob.all()] == [("a-aaaaaa", "alice@example.com")]
    bob.cache.write_text("{not json")
    assert [r.job_id for r in bob.all()] == ["a-aaaaaa"]


def test_legacy_records_move_into_the_default_backend(trainctl_home: Path) -> None:
    """Records an earlier trainctl kept in $TRAINCTL_HOME/jobs move into <state>/.trainctl/jobs on first use, once."""
    legacy = trainctl_home / "jobs"
    legacy.mkdir()
    for job_id in ("old-aaaaaa", "old-bbbbbb"):
        (legacy / f"{job_id}.json").write_text(_record(job_id).model_dump_json())
    (legacy / ".old-cccccc.json.tmp").write_text("{half")
    ledger = Ledger.of(get_settings())
    assert sorted(r.job_id for r in ledger.all()) == ["old-aaaaaa", "old-bbbbbb"]
    moved = trainctl_home / "state" / ".trainctl" / "jobs"
    assert sorted(p.name for p in moved.glob("*.json")) == ["old-aaaaaa.json", "old-bbbbbb.json"]
    assert [p.name for p in legacy.iterdir()] == [".old-cccccc.json.tmp"]  # not a record: left alone
    again = Ledger.of(get_settings())
    assert sorted(r.job_id for r in again.all()) == ["old-aaaaaa", "old-bbbbbb"]


def test_migration_never_overwrites_a_newer_record(trainctl_home: Path) -> None:
    """A legacy file older than the backend's record of the job leaves the record as it is (and goes)."""
    ledger = Ledger.of(get_settings())
    ledger.save(_record("run-aaaaaa").model_copy(update={"state": JobState.FAILED}))
    legacy = trainctl_home / "jobs"
    legacy.mkdir()
    old = legacy / "run-aaaaaa.json"
    old.write_text(_record("run-aaaaaa").model_dump_json())
    past = time.time() - 3600
    os.utime(old, (past, past))
    loaded = Ledger.of(get_settings()).load("run-aaaaaa")
    assert loaded is not None and loaded.state == "failed"
    assert not legacy.exists()


def test_other_backends_leave_legacy_records_alone(team_url: str, trainctl_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a team backend in force, records of $TRAINCTL_HOME/jobs (the default backend's) stay where they are."""
    legacy = trainctl_home / "jobs"
    legacy.mkdir()
    (legacy / "mine-aaaaaa.json").write_text(_record("mine-aaaaaa").model_dump_json())
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", team_url)
    get_settings.cache_clear()
    assert Ledger.of(get_settings()).all() == []
    assert (legacy / "mine-aaaaaa.json").is_file()


def _ls(cli, home: Path, monkeypatch: pytest.MonkeyPatch, *args: str, owner: str | None = None) -> tuple[int, object]:
    """`trainctl ls ARGS --output json` as the user of ``home`` (and TRAINCTL_OWNER ``owner``): its rows, or the error."""
    monkeypatch.setenv("TRAINCTL_HOME", str(home))
    if owner is None:
        monkeypatch.delenv("TRAINCTL_OWNER", raising=False)
    else:
        monkeypatch.setenv("TRAINCTL_OWNER", owner)
    get_settings.cache_clear()
    result = cli("ls", *args, "--output", "json")
    if result.exit_code != 0 or not result.stdout.strip():
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else result.stderr
    return result.exit_code, json.loads(result.stdout)["jobs"]


def test_ls_lists_every_job_of_the_backend_and_filters(
    cli, team_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob's `ls` shows Alice's jobs with their owner; --mine, --owner and --team keep only the matching ones."""
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    ledger = _ledger(alice, team_url)
    ledger.save(_record("resnet-a1b2c3", created=3).model_copy(update={"started_by": "alice@ws-1"}))
    ledger.save(_record("bert-d4e5f6", owner="bob@example.com", team="nlp", created=2))
    ledger.save(_record("vit-0a0b0c", owner="bob@example.com", created=1))
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", team_url)
    code, rows = _ls(cli, bob, monkeypatch)
    assert code == 0
    assert [(r["job_id"], r["owner"]) for r in rows] == [
        ("resnet-a1b2c3", "alice@example.com"),
        ("bert-d4e5f6", "bob@example.com"),
        ("vit-0a0b0c", "bob@example.com"),
    ]
    assert rows[0]["started_by"] == "alice@ws-1"
    assert [r["job_id"] for r in _ls(cli, bob, monkeypatch, "--mine", owner="bob@example.com")[1]] == [
        "bert-d4e5f6",
        "vit-0a0b0c",
    ]
    assert [r["job_id"] for r in _ls(cli, bob, monkeypatch, "--owner", "alice@example.com")[1]] == ["resnet-a1b2c3"]
    assert [r["job_id"] for r in _ls(cli, bob, monkeypatch, "--team", "vision")[1]] == ["resnet-a1b2c3", "vit-0a0b0c"]
    both = _ls(cli, alice, monkeypatch, "--team", "vision", "--owner", "bob@example.com")[1]
    assert [r["job_id"] for r in both] == ["vit-0a0b0c"]


def test_ls_mine_without_an_identity_is_invalid_input(cli, trainctl_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ls --mine` with no TRAINCTL_OWNER exits 2 saying how to name yourself; with --owner too, exit 2 as well."""
    code, error = _ls(cli, trainctl_home, monkeypatch, "--mine")
    assert code == 2 and "TRAINCTL_OWNER" in json.dumps(error)
    code, _ = _ls(cli, trainctl_home, monkeypatch, "--mine", "--owner", "x@example.com", owner="me@example.com")
    assert code == 2


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_an_update_from_a_stale_read_never_overwrites_a_teammates_change(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Bob's ls read a running job; Alice cancels it; Bob's fold of what he saw keeps Alice's record and returns it."""
    url = request.getfixturevalue("team_url") if kind == "s3" else f"file://{tmp_path / 'shared-state'}"
    alice, bob = _ledger(tmp_path / "alice", url), _ledger(tmp_path / "bob", url)
    running = _record("run-aaaaaa").model_copy(update={"state": JobState.RUNNING, "torn_down": False})
    alice.save(running)
    [seen] = bob.all()
    alice.save(alice.resolve("run-aaaaaa").model_copy(update={"state": JobState.CANCELLED, "torn_down": True}))
    kept = bob.save_if_unchanged(seen.model_copy(update={"state": JobState.INTERRUPTED}))
    assert kept.state == JobState.CANCELLED
    stored = alice.load("run-aaaaaa")
    assert stored is not None and stored.state == JobState.CANCELLED
    [again] = bob.all()  # read anew: now Bob's update applies
    assert bob.save_if_unchanged(again.model_copy(update={"reason": "seen by bob"})).reason == "seen by bob"
    reread = alice.load("run-aaaaaa")
    assert reread is not None and reread.reason == "seen by bob"


def test_status_and_cost_read_the_same_index(cli, team_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From Bob's home, `status` shows Alice's job and `cost --by owner` counts its recorded cost."""
    _ledger(tmp_path / "alice", team_url).save(_record("resnet-a1b2c3").model_copy(update={"cost_usd": 2.5}))
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", team_url)
    monkeypatch.setenv("TRAINCTL_HOME", str(tmp_path / "bob"))
    get_settings.cache_clear()
    status = json.loads(cli("status", "resnet-a1b2c3", "-o", "json").stdout)
    assert (status["owner"], status["state"], status["cost_usd"]) == ("alice@example.com", "succeeded", 2.5)
    cost = json.loads(cli("cost", "--by", "owner", "-o", "json").stdout)
    assert [(g["group"], g["cost_usd"], g["jobs"]) for g in cost["groups"]] == [("alice@example.com", 2.5, 1)]


def test_completion_ids_of_a_team_backend_come_from_the_local_cache(team_url: str, tmp_path: Path) -> None:
    """Job ids a Tab press offers on an S3 backend are those of the last listing (the local cache), with no request."""
    from orchestrator.jobs.layout import known_job_ids

    bob = tmp_path / "bob"
    assert known_job_ids(bob, team_url) == []
    _ledger(tmp_path / "alice", team_url).save(_record("resnet-a1b2c3"))
    calls: list[str] = []
    with aws.listening(lambda service, operation: calls.append(operation)):
        assert known_job_ids(bob, team_url) == []  # Bob has not listed yet
    _ledger(bob, team_url).all()
    with aws.listening(lambda service, operation: calls.append(operation)):
        assert [job_id for _, job_id in known_job_ids(bob, team_url)] == ["resnet-a1b2c3"]
    assert calls == []


@pytest.mark.parametrize("url", ["gs://team-bucket/trainctl", "https://api.pulumi.com"])
def test_a_backend_without_objects_keeps_its_index_in_the_home(
    cli, url: str, trainctl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a backend trainctl keeps no objects in, the index lives in $TRAINCTL_HOME/index/<backend id>/ (ls works)
    and publishing a team policy exits 2 saying the backend keeps none."""
    from orchestrator.jobs.backend import backend_id

    monkeypatch.setenv("TRAINCTL_BACKEND_URL", url)
    get_settings.cache_clear()
    Ledger.of(get_settings()).save(_record("resnet-a1b2c3"))
    assert (trainctl_home / "index" / backend_id(url) / "jobs" / "resnet-a1b2c3.json").is_file()
    result = cli("ls", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [row["job_id"] for row in json.loads(result.stdout)["jobs"]] == ["resnet-a1b2c3"]
    policy = trainctl_home / "team.json"
    policy.write_text('{"max-hourly-cost": {"maxUsd": 5}}')
    refused = cli("policy", "publish", str(policy))
    assert refused.exit_code == 2 and "keeps no team policy" in refused.stderr
