"""The job's EC2 instance as a Pulumi dynamic resource: launched from the launch template by trainctl.

A dynamic resource (rather than ``aws.ec2.Instance``) because the launch is a decision, not a fixed
request: spot in each zone, then on-demand when allowed (see orchestrator/targets/aws/compute.py and
docs/aws.md). ``read`` reports a terminated instance as gone, so `refresh` + `up` relaunches it and the
agent resumes from the newest checkpoint in S3; ``delete`` terminates and waits.
"""

from __future__ import annotations

from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from orchestrator.cloud import aws
from orchestrator.targets.aws import compute
from orchestrator.vocabulary import Tag

REPLACING = (
    "launch_template_id",
    "launch_template_version",
    "market",
    "spot_options",
    "on_demand_fallback",
    "image_override",
    "region",
    "disk_gb",
)


def _ec2(props: dict[str, Any], *, attempts: int = aws.DEFAULT_MAX_ATTEMPTS) -> Any:
    return _client("ec2", props, attempts=attempts)


def _client(service: str, props: dict[str, Any], *, attempts: int = aws.DEFAULT_MAX_ATTEMPTS) -> Any:
    return aws.client(
        service, region=props["region"], endpoint_url=props.get("endpoint_url"), max_attempts=attempts, use_settings=False
    )


def _request(props: dict[str, Any]) -> compute.LaunchRequest:
    return compute.LaunchRequest(
        job_id=props["tags"][Tag.JOB_ID],
        launch_template_id=props["launch_template_id"],
        launch_template_version=str(props["launch_template_version"]),
        tags=dict(props["tags"]),
        spot=props.get("market") == "spot",
        on_demand_fallback=bool(props.get("on_demand_fallback", True)),
        disk_gb=int(props["disk_gb"]),
        image_override=props.get("image_override"),
        image=props.get("image"),
        instance_type=props.get("instance_type"),
    )


class TrainingInstanceProvider(ResourceProvider):
    """CRUD of the job's instance through boto3 (credentials and region as for the AWS provider)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        launched = compute.launch(_ec2(props), _request(props), run_client=_ec2(props, attempts=1), ssm=_client("ssm", props))
        outs = {
            **props,
            "instance_id": launched.instance_id,
            "purchased": launched.market,
            "subnet_id": launched.subnet_id,
            "launch_attempts": launched.attempts,
            "root_gb": launched.root_gb,
        }
        return CreateResult(id_=launched.instance_id, outs=outs)

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in REPLACING if olds.get(k) != news.get(k)]
        changed = bool(replaces) or olds.get("tags") != news.get("tags")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        tags = [{"Key": k, "Value": v} for k, v in sorted(news["tags"].items())]
        with aws.calling("tagging the instance (ec2 CreateTags)", instance_id=id):
            _ec2(news).create_tags(Resources=[id], Tags=tags)
        return UpdateResult(outs={**olds, "tags": news["tags"]})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        facts = compute.describe(_ec2(props), id)
        if facts is None or not facts.live:
            # Terminated (finished, preempted or shut down): gone, so the next `up` launches a new one.
            return ReadResult(id_=None, outs={**props, "state": facts.state if facts else "gone"})
        return ReadResult(id_=id, outs={**props, "state": facts.state, "purchased": facts.market})

    def delete(self, id: str, props: dict[str, Any]) -> None:
        compute.terminate(_ec2(props), id)


class TrainingInstance(Resource):
    """The instance running the agent."""

    instance_id: Output[str]
    purchased: Output[str]

    def __init__(self, name: str, props: dict[str, Input[Any]], opts: ResourceOptions | None = None) -> None:
        outputs = {"instance_id": None, "purchased": None, "subnet_id": None, "launch_attempts": None, "root_gb": None}
        super().__init__(TrainingInstanceProvider(), name, {**props, **outputs}, opts)
