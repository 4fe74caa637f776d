"""The job's EC2 instances as a Pulumi dynamic resource: launched from the launch template by trainctl.

A dynamic resource (rather than ``aws.ec2.Instance``) because the launch is a decision, not a fixed
request: spot in each zone, then on-demand when allowed (see orchestrator/targets/aws/compute.py and
docs/aws.md). ``read`` reports a terminated instance as gone, so `refresh` + `up` relaunches it and the
agent resumes from the newest checkpoint in S3; ``delete`` terminates and waits.

A multi-node job's N instances are one such resource, so they have one fate: launched together (one
market, one zone, one placement group), relaunched together, deleted together. Right after the launch
the provider writes each node's part of the agent's configuration (its rank, the node count, every
node's private address in rank order, the rendezvous port and the launch id) to the job's bucket under
the instance's id, where the node's boot script reads it; if that fails, the group is terminated before
the error leaves, so a failed create leaves no instance behind. When some nodes of a group have ended
and others still run, ``read`` keeps the group and marks it ``partial``: the next `up` replaces it as a
whole (the survivors are terminated first), never only the lost node.
"""

from __future__ import annotations

from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from orchestrator.cloud import aws
from orchestrator.targets.aws import compute, names
from orchestrator.vocabulary import Tag

PARTIAL = "partial"  # read: some nodes of the group ended, some still run

REPLACING = (
    "launch_template_id",
    "launch_template_version",
    "market",
    "spot_options",
    "on_demand_fallback",
    "image_override",
    "region",
    "disk_gb",
    # A multi-node job's group: another node count, placement group or EFA setup is another group.
    "count",
    "placement_group",
    "efa_security_group",
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
        count=int(props.get("count") or 1),
        placement_group=props.get("placement_group"),
        efa_security_group=props.get("efa_security_group"),
    )


def node_configs(launched: compute.Launched, *, master_port: int) -> dict[str, dict[str, Any]]:
    """Each node's part of the agent's configuration, by instance id (rank = launch order); the launch
    id is node rank 0's instance id (a relaunch is a new group, hence a new id)."""
    count = len(launched.instance_ids)
    return {
        instance_id: {
            "node_rank": rank,
            "num_nodes": count,
            "node_addrs": list(launched.private_ips),
            "master_port": master_port,
            "launch_id": launched.instance_id,
        }
        for rank, instance_id in enumerate(launched.instance_ids)
    }


def _write_node_configs(props: dict[str, Any], launched: compute.Launched) -> None:
    import json

    s3, bucket = _client("s3", props), str(props["bucket"])
    for instance_id, config in node_configs(launched, master_port=int(props["master_port"])).items():
        key = names.node_config_key(instance_id)
        body = json.dumps(config, sort_keys=True).encode()
        with aws.calling("handing a node its rank and the group's addresses (s3 PutObject)", bucket=bucket, key=key):
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def _group(id: str, props: dict[str, Any]) -> list[str]:
    """Every instance of the resource (state written before groups holds only ``id``)."""
    ids = props.get("instance_ids")
    return [str(i) for i in ids] if isinstance(ids, list) and ids else [id]


class TrainingInstanceProvider(ResourceProvider):
    """CRUD of the job's instance through boto3 (credentials and region as for the AWS provider)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = _ec2(props)
        launched = compute.launch(ec2, _request(props), run_client=_ec2(props, attempts=1), ssm=_client("ssm", props))
        if int(props.get("count") or 1) > 1:
            try:
                _write_node_configs(props, launched)
            except Exception:
                compute.terminate_all(ec2, launched.instance_ids)  # all or nothing: no node outlives a failed create
                raise
        outs = {
            **props,
            "instance_id": launched.instance_id,
            "instance_ids": launched.instance_ids,
            "private_ips": launched.private_ips,
            "purchased": launched.market,
            "subnet_id": launched.subnet_id,
            "launch_attempts": launched.attempts,
            "root_gb": launched.root_gb,
        }
        return CreateResult(id_=launched.instance_id, outs=outs)

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in REPLACING if olds.get(k) != news.get(k)]
        if olds.get("state") == PARTIAL:
            replaces.append("instance_ids")  # a group that lost nodes is relaunched as a whole
        changed = bool(replaces) or olds.get("tags") != news.get("tags")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        tags = [{"Key": k, "Value": v} for k, v in sorted(news["tags"].items())]
        group = _group(id, olds)
        with aws.calling("tagging the instances (ec2 CreateTags)", instance_id=id):
            _ec2(news).create_tags(Resources=group, Tags=tags)
        return UpdateResult(outs={**olds, "tags": news["tags"]})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        group = _group(id, props)
        found = compute.describe_many(_ec2(props), group)
        seen = [found.get(instance_id) for instance_id in group]
        live = [facts for facts in seen if facts is not None and facts.live]
        if not live:
            # Terminated (finished, preempted or shut down): gone, so the next `up` launches a new one.
            lead = seen[0]
            return ReadResult(id_=None, outs={**props, "state": lead.state if lead else "gone"})
        if len(live) < len(seen):
            ended = [i for i, facts in zip(group, seen, strict=True) if facts is None or not facts.live]
            return ReadResult(id_=id, outs={**props, "state": PARTIAL, "ended": ended})
        return ReadResult(id_=id, outs={**props, "state": live[0].state, "purchased": live[0].market})

    def delete(self, id: str, props: dict[str, Any]) -> None:
        compute.terminate_all(_ec2(props), _group(id, props))


class TrainingInstance(Resource):
    """The instances running the agent: one, or a multi-node job's group (``count`` in its props)."""

    instance_id: Output[str]
    instance_ids: Output[list[str]]
    private_ips: Output[list[str]]
    purchased: Output[str]

    def __init__(self, name: str, props: dict[str, Input[Any]], opts: ResourceOptions | None = None) -> None:
        outputs = {
            "instance_id": None,
            "instance_ids": None,
            "private_ips": None,
            "purchased": None,
            "subnet_id": None,
            "launch_attempts": None,
            "root_gb": None,
        }
        super().__init__(TrainingInstanceProvider(), name, {**props, **outputs}, opts)
