"""`trainctl gc` on AWS (moto): planted leaks are found by tag and removed; live jobs and retained artifacts stay.

The live job is a real stack in the test's TRAINCTL_HOME, made by the engine from a tiny inline program
whose outputs name the job's resources (what gc compares against). Other cases build ``StackFacts``
directly and call ``aws_findings``. Helpers here (``plant``, ``present``) are reused by the chaos suite.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orchestrator.cloud import aws
from orchestrator.gc.aws import NO_STACK, NO_STACK_NO_RECORD, NOT_HELD, aws_findings
from orchestrator.gc.aws_removal import remove_aws
from orchestrator.gc.findings import StackFacts
from orchestrator.jobs.index import Ledger
from orchestrator.jobs.records import JobRecord
from orchestrator.logs import configure_logging
from orchestrator.settings import get_settings
from orchestrator.testing.faults import FaultProxy
from orchestrator.testing.moto_server import MotoServer, register_image
from orchestrator.vocabulary import Tag

pytestmark = pytest.mark.moto
REGION = "us-east-1"
ALL_KINDS = ("instance", "launch-template", "security-group", "parameter", "instance-profile", "role", "log-group", "bucket")
FAST_RETRIES = {
    "TRAINCTL_RETRY_BASE_DELAY_S": "0.01",
    "TRAINCTL_RETRY_MAX_DELAY_S": "0.05",
    "TRAINCTL_RETRY_MAX_ATTEMPTS": "6",
    "TRAINCTL_RETRY_MAX_TOTAL_S": "10",
}
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
ANY_S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


@dataclass
class Planted:
    """A job's AWS resources as the AWS target leaves them, by kind (id, name or ARN)."""

    job_id: str
    ids: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def outputs(self) -> dict[str, str]:
        """What a stack holding these resources exports (ids and ARNs, as Pulumi state carries them)."""
        return {**{f"{kind}_id": value for kind, value in self.ids.items()}, **{f"{k}_arn": v for k, v in self.arns.items()}}


def tags(job_id: str, backend: str | None = None) -> dict[str, str]:
    """The tags trainctl puts on every resource of ``job_id`` (``backend``: the backend id, if any)."""
    return {
        "trainctl:job-id": job_id,
        "trainctl:job-name": job_id.rsplit("-", 1)[0],
        "trainctl:team": "vision",
        "trainctl:owner": "alice@example.com",
        "trainctl:managed-by": "trainctl",
        **({Tag.BACKEND.value: backend} if backend else {}),
    }


def moto_client(server: MotoServer, service: str) -> Any:
    """A client straight to moto (never through a fault proxy): for planting and checking."""
    return aws.client(service, region=REGION, endpoint_url=server.url)


def plant(server: MotoServer, job_id: str, kinds: tuple[str, ...] = ALL_KINDS, backend: str | None = None) -> Planted:
    """Create ``kinds`` of resources tagged for ``job_id`` (of ``backend``, if given) in moto."""
    planted = Planted(job_id)
    tag_list = [{"Key": k, "Value": v} for k, v in tags(job_id, backend).items()]
    name = f"trainctl-{job_id}"
    ec2, iam = moto_client(server, "ec2"), moto_client(server, "iam")
    if "security-group" in kinds:
        spec = [{"ResourceType": "security-group", "Tags": tag_list}]
        group = ec2.create_security_group(GroupName=name, Description="trainctl job", TagSpecifications=spec)["GroupId"]
        planted.ids["security-group"] = group
    if "launch-template" in kinds:
        spec = [{"ResourceType": "launch-template", "Tags": tag_list}]
        data = {"InstanceType": "g5.xlarge"}
        made = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data, TagSpecifications=spec)
        planted.ids["launch-template"] = made["LaunchTemplate"]["LaunchTemplateId"]
    if "instance" in kinds:
        spec = [{"ResourceType": kind, "Tags": tag_list} for kind in ("instance", "volume")]
        groups = {"SecurityGroupIds": [planted.ids["security-group"]]} if "security-group" in kinds else {}
        image = register_image(ec2, name=f"image-{job_id}-{time.monotonic_ns()}")
        run = ec2.run_instances(ImageId=image, InstanceType="g5.xlarge", MinCount=1, MaxCount=1, TagSpecifications=spec, **groups)
        planted.ids["instance"] = run["Instances"][0]["InstanceId"]
    if "role" in kinds:
        planted.arns["role"] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=tag_list)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="trainctl-job", PolicyDocument=ANY_S3)
        managed = iam.create_policy(PolicyName=f"{name}-extra", PolicyDocument=ANY_S3)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    if "instance-profile" in kinds:
        planted.arns["instance-profile"] = iam.create_instance_profile(InstanceProfileName=name, Tags=tag_list)[
            "InstanceProfile"
        ]["Arn"]
        if "role" in kinds:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    if "bucket" in kinds:
        s3 = moto_client(server, "s3")
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list})
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        for body in (b"v1", b"v2"):
            s3.put_object(Bucket=name, Key="checkpoints/step-0001/weights.bin", Body=body)
        s3.delete_object(Bucket=name, Key="checkpoints/step-0001/weights.bin")
        planted.ids["bucket"] = name
    if "log-group" in kinds:
        group_name = f"/trainctl/jobs/{job_id}"
        moto_client(server, "logs").create_log_group(logGroupName=group_name, tags=tags(job_id, backend))
        planted.ids["log-group"] = group_name
    if "parameter" in kinds:
        parameter = f"/trainctl/{job_id}/WANDB_API_KEY"
        moto_client(server, "ssm").put_parameter(Name=parameter, Value="secret", Type="SecureString", Tags=tag_list)
        planted.ids["parameter"] = parameter
    return planted


def present(server: MotoServer, planted: Planted) -> dict[str, bool]:
    """Which of the planted resources still exist (an instance counts while it is not terminated)."""
    ec2, iam = moto_client(server, "ec2"), moto_client(server, "iam")
    checks = {
        "instance": lambda v: (
            ec2.describe_instances(InstanceIds=[v])["Reservations"][0]["Instances"][0]["State"]["Name"] != "terminated"
        ),
        "security-group": lambda v: bool(ec2.describe_security_groups(GroupIds=[v])["SecurityGroups"]),
        "launch-template": lambda v: bool(ec2.describe_launch_templates(LaunchTemplateIds=[v])["LaunchTemplates"]),
        "role": lambda v: bool(iam.get_role(RoleName=v.rsplit("/", 1)[1])),
        "instance-profile": lambda v: bool(iam.get_instance_profile(InstanceProfileName=v.rsplit("/", 1)[1])),
        "bucket": lambda v: v in [b["Name"] for b in moto_client(server, "s3").list_buckets()["Buckets"]],
        "log-group": lambda v: bool(moto_client(server, "logs").describe_log_groups(logGroupNamePrefix=v)["logGroups"]),
        "parameter": lambda v: bool(moto_client(server, "ssm").get_parameter(Name=v)),
    }
    found = {}
    for kind, value in {**planted.ids, **planted.arns}.items():
        try:
            found[kind] = bool(checks[kind](value))
        except ClientError:
            found[kind] = False
    return found


def finding_kinds(findings: list[dict[str, Any]], job_id: str) -> set[str]:
    """The resource kinds of ``job_id``'s findings (``leaked-aws-`` stripped)."""
    return {f["kind"].removeprefix("leaked-aws-") for f in findings if f["job_id"] == job_id}


@pytest.fixture
def moto(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The shared reset moto, with fast trainctl retries."""
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    configure_logging("json", "info")  # log to this test's stderr (an earlier test's capture may be closed)
    return moto


def save_record(home: Path, job_id: str, state: str) -> JobRecord:
    """A job record as teardown leaves it (AWS target, us-east-1)."""
    record = JobRecord(
        job_id=job_id,
        name=job_id.rsplit("-", 1)[0],
        team="vision",
        owner="alice@example.com",
        target="aws",
        state=state,
        created=time.time() - 3600,
        started_at=time.time() - 3000,
        ended_at=time.time() - 60,
        spec={"resources": {"instance_type": "g5.xlarge", "region": REGION}},
        outputs={"region": REGION},
    )
    Ledger.for_home(home).save(record)
    return record


@pytest.mark.engine
def test_gc_removes_planted_aws_leaks_and_leaves_live_jobs_alone(cli, moto: MotoServer, trainctl_home: Path) -> None:
    """`gc --yes` removes a deleted job's resources; a live stack's, an ended job's artifacts and terminated ones stay."""
    import pulumi

    from orchestrator.engine.automation import Workspace
    from orchestrator.engine.jobstack import JobStack

    ghost = plant(moto, "ghost-job-abc123")
    gone = plant(moto, "ghost-job-abc123", kinds=("instance",))
    moto_client(moto, "ec2").terminate_instances(InstanceIds=[gone.ids["instance"]])
    live = plant(moto, "live-job-def456")
    ended = plant(moto, "ended-job-fed789", kinds=("bucket", "log-group"))
    save_record(trainctl_home, ended.job_id, "succeeded")

    def program() -> None:
        for key, value in live.outputs().items():
            pulumi.export(key, value)

    with JobStack.create(Workspace(get_settings()), live.job_id, program) as stack:
        stack.up()

    report = cli("gc", "--dry-run", "-o", "json")
    assert report.exit_code == 0, report.stderr
    findings = json.loads(report.stdout)["findings"]
    assert finding_kinds(findings, ghost.job_id) == set(ALL_KINDS)
    assert {f["job_id"] for f in findings} == {ghost.job_id}, "live and ended jobs are not leaks"
    resources = {f["resource"] for f in findings}
    assert ghost.arns["role"] in resources and f"arn:aws:s3:::{ghost.ids['bucket']}" in resources
    assert not any(gone.ids["instance"] in r for r in resources), "a terminated instance is no leak"
    details = {f["kind"].removeprefix("leaked-aws-"): f["detail"] for f in findings}
    assert details["bucket"] == details["log-group"] == NO_STACK_NO_RECORD
    assert {details[kind] for kind in ALL_KINDS if kind not in ("bucket", "log-group")} == {NO_STACK}

    cleaned = cli("gc", "--yes", "-o", "json")
    assert cleaned.exit_code == 0, cleaned.stderr
    removed = json.loads(cleaned.stdout)["findings"]
    assert len(removed) == len(ALL_KINDS) and all(f["removed"] for f in removed)
    assert present(moto, ghost) == dict.fromkeys(ALL_KINDS, False)
    assert present(moto, live) == dict.fromkeys(ALL_KINDS, True)
    assert present(moto, ended) == {"bucket": True, "log-group": True}
    assert json.loads(cli("gc", "--dry-run", "-o", "json").stdout)["findings"] == []


def test_stack_state_decides_what_is_live(moto: MotoServer, trainctl_home: Path) -> None:
    """Pending create: all live; emptied stack or ended record: only retained artifacts stay; removal repeats safely."""
    creating = plant(moto, "creating-job-aaa111", kinds=("instance", "security-group", "bucket"))
    emptied = plant(moto, "emptied-job-bbb222", kinds=("instance", "security-group", "bucket", "log-group"))
    ended = plant(moto, "ended-job-ccc333", kinds=("role", "bucket"))
    stacks = {
        creating.job_id: StackFacts(creating.job_id, [], [{"type": "creating", "resource": {"urn": "urn:x"}}]),
        emptied.job_id: StackFacts(emptied.job_id, [{"type": "pulumi:pulumi:Stack", "outputs": {}}], []),
    }
    records = {ended.job_id: save_record(trainctl_home, ended.job_id, "succeeded")}
    findings = aws_findings(get_settings(), stacks, records)
    seen = {(f.job_id, f.kind, f.detail) for f in findings}
    assert seen == {
        (emptied.job_id, "leaked-aws-instance", NOT_HELD),
        (emptied.job_id, "leaked-aws-security-group", NOT_HELD),
        (ended.job_id, "leaked-aws-role", NO_STACK),
    }
    for finding in findings:
        remove_aws(finding)
        remove_aws(finding)  # already gone: removed all the same
    assert all(f.removed for f in findings)
    assert present(moto, emptied) == {"instance": False, "security-group": False, "bucket": True, "log-group": True}
    assert present(moto, ended) == {"role": False, "bucket": True}
    assert present(moto, creating) == dict.fromkeys(("instance", "security-group", "bucket"), True)


def test_resources_of_another_backend_are_left_alone(moto: MotoServer, trainctl_home: Path) -> None:
    """Resources tagged with another backend's id are no leak of this one (no stack, no record here); ours are."""
    other = plant(moto, "other-job-abc123", backend="0123456789ab")
    mine = plant(moto, "mine-job-def456", kinds=("instance", "security-group"), backend=get_settings().backend_id)
    findings = aws_findings(get_settings(), {}, {})
    assert {f.job_id for f in findings} == {mine.job_id}
    assert finding_kinds([f.to_dict() for f in findings], mine.job_id) == {"instance", "security-group"}
    assert present(moto, other) == dict.fromkeys(ALL_KINDS, True)


def test_without_credentials_the_aws_side_is_skipped_with_a_notice(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No AWS credentials anywhere: no findings, no AWS request, and a logged notice saying why."""
    plant(moto, "ghost-job-abc123", kinds=("bucket",))
    proxy = FaultProxy(moto.url).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        assert aws_findings(get_settings(), {}, {}) == []
        assert proxy.seen == []
    finally:
        proxy.stop()
    assert '"event": "gc.aws.skipped"' in capsys.readouterr().err
