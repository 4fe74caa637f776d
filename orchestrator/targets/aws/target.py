"""AwsTarget: a job is an EC2 instance (spot or on-demand) running the agent, with S3 and CloudWatch.

The program is in ``program.py``; what is read back (status, instance, output) in ``monitor.py``.
Nothing here imports boto3 or Pulumi at module level: ``get_target("aws")`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.compile import CompiledJob
from orchestrator.errors import InternalError, TransientCloudError
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets.aws import names
from orchestrator.targets.base import Observation, Preflight
from orchestrator.targets.preemption import NODE_LOST, PREEMPTED, Decision, decide
from orchestrator.vocabulary import RunState

SUMMARY_KEYS = (
    *("bucket", "artifacts", "log_group", "region", "instance_id", "purchased", "launch_template_id"),
    *("nodes", "instance_ids", "node_addrs", "placement_group"),  # a multi-node job's group
)


class AwsTarget:
    """Jobs run on EC2 in the spec's region; artifacts in a per-job S3 bucket; output in CloudWatch Logs."""

    name = "aws"

    def __init__(self) -> None:
        self._readers: dict[tuple[str, int], Any] = {}  # (job id, node rank) -> its log reader

    def preflight(self, loaded: LoadedSpec, *, region: str | None, offline: bool) -> Preflight:
        """Root volume, zones offering the type, vCPU quotas: see ``preflight.py``. ``region``: the job's
        (``compile.spec_region``)."""
        from orchestrator.targets.aws.preflight import preflight

        if region is None:
            raise InternalError(f"preflight of AWS job {loaded.spec.name} was given no region")
        return preflight(loaded, region=region, offline=offline)

    def program(self, job: CompiledJob) -> Callable[[], None]:
        def declare() -> None:
            from orchestrator.targets.aws.program import declare as declare_job

            declare_job(job)

        return declare

    def observe(self, record: JobRecord) -> Observation:
        """State from the agent's S3 status and the instance (a multi-node job: every node's, ``monitor.observe_group``).

        Each read runs under the one retry policy; a transient failure that outlasts it reads as "running"
        (ask again), never as a dead job. Access denied and other permanent errors leave as they are.
        """
        from orchestrator.targets.aws import monitor

        group = _group(record)
        try:
            s3, ec2 = self._client("s3", record), self._client("ec2", record)
            status = monitor.read_status(s3, _bucket(record))
            if group:
                others = monitor.read_node_statuses(s3, _bucket(record), len(group))
                return monitor.observe_group(status, monitor.group_instances(ec2, record.job_id, group), others)
            instance = monitor.current_instance(ec2, record.job_id)
        except TransientCloudError as e:
            return Observation(state=RunState.RUNNING, reason=f"status unavailable ({e.message}); will ask again")
        return monitor.observe(status, instance)

    def relaunch_decision(self, record: JobRecord) -> Decision:
        """After the job stopped: relaunch it (a spot preemption within ``restarts.max_preemptions``) or not.

        The preemptions so far are the record's ``preemptions`` field; the caller stores the returned
        count before relaunching with `up` (which resumes from ``resume_from``, the newest checkpoint).
        """
        from orchestrator.agent.s3store import S3Store
        from orchestrator.targets.aws import monitor

        seen = self.observe(record)
        max_preemptions = record.job_spec().restarts.max_preemptions
        newest = None
        if seen.state == RunState.STOPPED and seen.reason in (PREEMPTED, NODE_LOST):
            newest = monitor.newest_checkpoint(S3Store(f"s3://{_bucket(record)}", client=self._client("s3", record)))
        return decide(seen, preemptions=record.preemptions, max_preemptions=max_preemptions, newest_checkpoint=newest)

    def read_log(self, record: JobRecord, offset: int, *, node: int = 0) -> tuple[bytes, int]:
        """Output from CloudWatch Logs (or the S3 copy); a transient failure returns nothing new."""
        from orchestrator.agent.layout import node_output_key
        from orchestrator.targets.aws.monitor import LogReader

        reader = self._readers.get((record.job_id, node))
        if reader is None:  # polled: no retry in place, botocore's own small budget (the next poll is the retry)
            logs, s3 = self._client("logs", record, polled=True), self._client("s3", record, polled=True)
            reader = LogReader(
                logs,
                _log_group(record),
                s3=s3,
                bucket=_bucket(record),
                stream_prefix=names.node_stream_prefix(node),
                s3_key=node_output_key(node),
            )
            self._readers[(record.job_id, node)] = reader
        try:
            data, end = reader.read(offset)
        except TransientCloudError:
            return b"", offset
        return data, end

    def purge(self, record: JobRecord) -> list[str]:
        """Delete the retained bucket (every object version) and the log group; return what was removed."""
        from orchestrator.targets.aws.purge import delete_bucket, delete_log_group

        removed = []
        if delete_bucket(self._client("s3", record), _bucket(record)):
            removed.append(f"s3://{_bucket(record)}")
        if delete_log_group(self._client("logs", record), _log_group(record)):
            removed.append(f"logs:{_log_group(record)}")
        return removed

    def outputs_summary(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return {k: outputs[k] for k in SUMMARY_KEYS if k in outputs}

    def _client(self, service: str, record: JobRecord, *, polled: bool = False) -> Any:
        """A client in the job's region: one botocore attempt, since callers run under the retry policy."""
        from orchestrator.cloud import aws

        attempts = aws.DEFAULT_MAX_ATTEMPTS if polled else aws.CALL_MAX_ATTEMPTS
        return aws.client(service, region=region_of(record), max_attempts=attempts)


def region_of(record: JobRecord) -> str:
    """The job's region, as decided when it was compiled (an AWS job always has one)."""
    if record.region is None:
        raise InternalError(f"job {record.job_id} on target aws has no region in its record")
    return record.region


def _group(record: JobRecord) -> list[str]:
    """A multi-node job's instances in rank order, as its allocation recorded them (empty for one node)."""
    ids = record.outputs.get("instance_ids")
    return [str(i) for i in ids] if isinstance(ids, list) and len(ids) > 1 else []


def _bucket(record: JobRecord) -> str:
    bucket = record.outputs.get("bucket")
    return bucket if isinstance(bucket, str) and bucket else names.bucket_name(record.job_id)


def _log_group(record: JobRecord) -> str:
    group = record.outputs.get("log_group")
    return group if isinstance(group, str) and group else names.log_group_name(record.job_id)
