"""Watching an AWS job: its state from the agent's S3 status and the instance, relaunch decisions after
spot preemptions, and its output from CloudWatch Logs.

A multi-node job has one fate: node rank 0's agent speaks for the group (its status is the job's), and
any node's spot interruption is the job's. While the other nodes are still stopping (their agents stop
once they miss the lost node's heartbeat, with a checkpoint) the job reads as running; once they have
stopped, or rank 0 reports the group stopped, it reads as preempted, so the whole group is relaunched
from the newest checkpoint. A node lost for another reason is reported by rank 0's agent (reason
``node-lost``), which the relaunch decision treats the same way.

The decisions (``observe``, ``decide``) are pure functions of what was read, so they are tested
against moto and plain values alike. A status written by an earlier instance of the same job (before
a relaunch) is ignored, and a transient failure to read is never mistaken for a dead job. Reads of the
status and the instances run under the one retry policy (``aws.call``); the log reader does not retry
in place: it is polled, and a throttled read returns nothing new until the next poll.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from orchestrator.agent.checkpoints import stored_checkpoints
from orchestrator.agent.layout import node_status_key
from orchestrator.agent.supervisor import STATUS_KEY
from orchestrator.cloud import aws
from orchestrator.errors import CloudError
from orchestrator.targets.aws import names
from orchestrator.targets.aws.compute import InstanceFacts, job_instances
from orchestrator.targets.base import NodeView, Observation, status_fields
from orchestrator.targets.preemption import PREEMPTED
from orchestrator.vocabulary import RunState

FINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.STOPPED})


def read_status(s3: Any, bucket: str, key: str = STATUS_KEY) -> dict[str, Any] | None:
    """The agent's ``status.json`` (None before the agent's first heartbeat); ``key``: another node's."""
    what = "the job's status" if key == STATUS_KEY else f"a node's status {key}"
    try:
        body = aws.call(
            f"reading {what} (s3 GetObject)",
            lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
            bucket=bucket,
        )
    except CloudError as e:
        if aws.is_not_found(e):
            return None
        raise
    try:
        status: dict[str, Any] = json.loads(body)
    except ValueError:
        return None
    return status


def current_instance(ec2: Any, job_id: str) -> InstanceFacts | None:
    """The job's newest instance: a live one if any, else the newest that ended."""
    found = job_instances(ec2, job_id)
    live = [f for f in found if f.live]
    candidates = live or found
    return candidates[0] if candidates else None


def read_node_statuses(s3: Any, bucket: str, nodes: int) -> list[dict[str, Any] | None]:
    """The statuses of a multi-node job's nodes 1..N-1 (rank 0's is the job's ``status.json``)."""
    return [read_status(s3, bucket, node_status_key(rank)) for rank in range(1, nodes)]


def group_instances(ec2: Any, job_id: str, instance_ids: list[str]) -> list[InstanceFacts | None]:
    """The current group's instances in rank order (None where EC2 no longer lists one)."""
    found = {facts.instance_id: facts for facts in job_instances(ec2, job_id)}
    return [found.get(instance_id) for instance_id in instance_ids]


def observe_group(
    status: dict[str, Any] | None, group: list[InstanceFacts | None], node_statuses: list[dict[str, Any] | None] | None = None
) -> Observation:
    """A multi-node job's state: rank 0's view (``observe``), where any node's spot interruption is the job's.
    ``node_statuses`` (ranks 1..N-1, when read) give each node's own view (``Observation.nodes``)."""
    statuses = [status, *(node_statuses or [None] * (len(group) - 1))]
    views = tuple(NodeView(rank, observe(statuses[rank], facts)) for rank, facts in enumerate(group))
    return replace(_group_state(status, group), nodes=views)


def _group_state(status: dict[str, Any] | None, group: list[InstanceFacts | None]) -> Observation:
    seen = observe(status, group[0])
    preempted = [
        rank for rank, facts in enumerate(group) if facts is not None and facts.reason_code == names.SPOT_INTERRUPTION_CODE
    ]
    if not preempted or seen.state in (RunState.SUCCEEDED, RunState.FAILED):
        return seen
    if seen.state == RunState.STOPPED:
        return replace(seen, reason=PREEMPTED)
    stopping = [rank for rank, facts in enumerate(group) if facts is not None and facts.live]
    if stopping:
        why = f"node {', '.join(map(str, preempted))} preempted; node {', '.join(map(str, stopping))} stopping"
        return replace(seen, state=RunState.RUNNING, reason=why)
    return replace(seen, state=RunState.STOPPED, reason=PREEMPTED)


def was_preempted(instance: InstanceFacts | None, status: dict[str, Any] | None) -> bool:
    """EC2 reclaimed the spot instance (state reason), or the agent saw the notice and stopped."""
    if instance is not None and instance.reason_code == names.SPOT_INTERRUPTION_CODE:
        return True
    return status is not None and status.get("state") == RunState.STOPPED and status.get("reason") == PREEMPTED


def observe(status: dict[str, Any] | None, instance: InstanceFacts | None) -> Observation:
    """The job's state from its status and its instance (either may be missing)."""
    launched = instance.launched_at if instance is not None else None
    if status is not None and launched is not None and float(status.get("updated_at") or 0.0) < launched:
        status = None  # written by the instance before a relaunch
    fields = _fields(status)
    state = (status or {}).get("state", RunState.STARTING)
    if state in FINAL:
        if state == RunState.STOPPED and was_preempted(instance, status):
            fields["reason"] = PREEMPTED
        return Observation(state=RunState(state), **fields)
    if instance is None:
        return Observation(state=RunState.RUNNING, **{**fields, "reason": "no instance yet"})
    if instance.live:
        return Observation(state=RunState.RUNNING, **{**fields, "reason": fields["reason"] or f"instance {instance.state}"})
    if was_preempted(instance, status):
        return Observation(state=RunState.STOPPED, **{**fields, "reason": PREEMPTED})
    why = instance.reason_message or instance.reason_code or instance.state
    return Observation(state=RunState.GONE, **{**fields, "reason": f"instance {instance.instance_id} {instance.state}: {why}"})


def newest_checkpoint(store: Any) -> str | None:
    """The URL of the newest checkpoint in the job's store (what a relaunched run resumes from)."""
    stored = stored_checkpoints(store)
    return f"{store.url}/checkpoints/{stored[-1][0]}" if stored else None


class LogReader:
    """The job's output as one byte stream, from CloudWatch Logs (streams ``output-<instance>``; node K of
    a multi-node job: ``node<K>-output-<instance>``, ``rank``).

    ``read(offset)`` continues from where the previous read ending at ``offset`` stopped (a cursor of
    timestamp and event ids), so following a log does not re-read it; an unknown offset re-reads and
    skips. When the log group has no output at all (no CloudWatch agent on a custom AMI), the copy the
    instance uploads to S3 when the agent ends is read instead.
    """

    def __init__(
        self,
        logs: Any,
        group: str,
        *,
        s3: Any = None,
        bucket: str | None = None,
        page_size: int = 10000,
        stream_prefix: str = names.OUTPUT_STREAM_PREFIX,
        s3_key: str = names.OUTPUT_LOG_KEY,
    ) -> None:
        self.logs = logs
        self.group = group
        self.stream_prefix = stream_prefix  # a multi-node job's node K: its own streams and S3 copy
        self.s3_key = s3_key
        self.s3 = s3
        self.bucket = bucket
        self.page_size = page_size
        self._cursors: dict[int, tuple[int, frozenset[str]]] = {}
        self._source: str | None = None

    def read(self, offset: int) -> tuple[bytes, int]:
        if self._source != "s3":
            data, end = self._read_events(offset)
            if data or self._source == "logs":
                self._source = "logs"
                return data, end
        if self.s3 is None or self.bucket is None:
            return b"", offset
        data = self._read_s3(offset)
        if data:
            self._source = "s3"
        return data, offset + len(data)

    def _read_events(self, offset: int) -> tuple[bytes, int]:
        start, seen = self._cursors.get(offset, (0, frozenset()))
        skip = 0 if offset in self._cursors or offset == 0 else offset
        events = [e for e in self._events(start) if e["eventId"] not in seen]
        if not events:
            return b"", offset
        events.sort(key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))
        data = b"".join((e["message"].rstrip("\n") + "\n").encode() for e in events)
        if skip:
            data = data[skip:]
        end = offset + len(data)
        last = events[-1]["timestamp"]
        at_last = {e["eventId"] for e in events if e["timestamp"] == last}
        self._cursors[end] = (last, frozenset(at_last | (seen if last == start else set())))
        return data, end

    def _events(self, start: int) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "logGroupName": self.group,
            "logStreamNamePrefix": self.stream_prefix,
            "startTime": start,
            "limit": self.page_size,
        }
        events: list[dict[str, Any]] = []
        try:
            with aws.calling("reading the job's output (logs FilterLogEvents)", log_group=self.group):
                while True:
                    page = self.logs.filter_log_events(**request)
                    prefix = self.stream_prefix  # asked for above; checked again (emulators ignore it)
                    events += [e for e in page.get("events", []) if str(e.get("logStreamName", prefix)).startswith(prefix)]
                    token = page.get("nextToken")
                    if not token or token == request.get("nextToken"):
                        return events
                    request["nextToken"] = token
        except CloudError as e:
            if aws.is_not_found(e):
                return []
            raise

    def _read_s3(self, offset: int) -> bytes:
        try:
            with aws.calling("reading the job's output (s3 GetObject)", bucket=str(self.bucket)):
                answer = self.s3.get_object(Bucket=self.bucket, Key=self.s3_key, Range=f"bytes={offset}-")
                data: bytes = answer["Body"].read()
        except CloudError as e:
            if aws.is_not_found(e) or aws.error_code(e) in ("InvalidRange", "416"):
                return b""
            raise
        return data


def _fields(status: dict[str, Any] | None) -> dict[str, Any]:
    return status_fields(status)
