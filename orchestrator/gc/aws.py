"""Leaks on AWS: resources tagged ``trainctl:managed-by=trainctl`` that no live stack holds.

What is there comes from ``aws_inventory`` (found by tag); removal is ``aws_removal``. Here each
resource is grouped by its ``trainctl:job-id`` tag and judged against that job's stack:

- a resource the stack holds (its ARN or id appears among the stack's resource ids and outputs) is live;
- anything of a job with a pending create in its state is live (the engine may be making it);
- anything of a job a trainctl operation holds (its lock, an engine process) or whose watcher runs is
  left alone;
- the retained artifacts (bucket, log group) of a job whose stack still exists, or that has a job
  record, are kept on purpose until `down --purge`;
- everything else (instance, security group, launch template, IAM role and instance profile, secret
  parameter, and orphaned artifacts) is a leak.

Regions searched: the default region and every region a job record or stack names. Every call runs
under the one retry policy (``aws.call``). With no AWS credentials configured the AWS side is skipped.
Resources are judged against the stacks of this backend: a resource whose ``trainctl:backend`` tag
names another backend belongs to a job of that backend and is left alone (resources made before that
tag existed carry none and are judged here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from orchestrator.cloud import aws
from orchestrator.gc.aws_inventory import ORDER, Tagged, list_tagged
from orchestrator.gc.aws_removal import KIND_PREFIX
from orchestrator.gc.findings import Finding, StackFacts
from orchestrator.logs import get_logger

if TYPE_CHECKING:
    from orchestrator.jobs.records import JobRecord
    from orchestrator.settings import Settings

RETAINED = ("bucket", "log-group")  # kept on purpose by teardown; removed by `down --purge`
NO_STACK = "no stack of its job on this backend"
NOT_HELD = "its job's stack no longer holds it"
NO_STACK_NO_RECORD = "retained artifacts of a job with no stack on this backend and no job record"


def aws_findings(settings: Settings, stacks: Mapping[str, StackFacts], records: Mapping[str, JobRecord]) -> list[Finding]:
    """Leaked AWS resources: tagged by trainctl, held by no live stack (see the module docstring)."""
    log = get_logger(__name__)
    if not aws.has_credentials():
        log.info("gc.aws.skipped", reason="no AWS credentials configured; only this machine was checked")
        return []
    regions = regions_of(settings.default_region, stacks, records)
    found = list_tagged(regions, settings.default_region)
    findings = []
    own = [r for r in found if r.backend in (None, settings.backend_id)]
    for resource in sorted(own, key=lambda r: (ORDER.index(r.kind), r.job_id, r.arn)):
        why = leak_reason(resource, stacks.get(resource.job_id), records.get(resource.job_id), settings)
        if why is not None:
            findings.append(Finding(KIND_PREFIX + resource.kind, resource.job_id, resource.arn, why))
    log.info(
        "gc.aws.checked", regions=sorted(regions), tagged=len(found), other_backends=len(found) - len(own), leaked=len(findings)
    )
    return findings


def leak_reason(resource: Tagged, facts: StackFacts | None, record: JobRecord | None, settings: Settings) -> str | None:
    """Why ``resource`` is a leak, or None when it is live or kept on purpose."""
    from orchestrator.gc.local import _busy, watched

    if _busy(settings.home, resource.job_id, {resource.job_id: record} if record else {}) or watched(
        settings.home, resource.job_id
    ):
        return None
    if facts is not None and (facts.has_pending_create or _held(resource, facts)):
        return None
    if resource.kind in RETAINED:
        if facts is not None or record is not None:
            return None  # retained artifacts of a known job: `down --purge` deletes them
        return NO_STACK_NO_RECORD
    if facts is None:
        return NO_STACK
    return NOT_HELD


def regions_of(default: str, stacks: Mapping[str, StackFacts], records: Mapping[str, JobRecord]) -> set[str]:
    """The default region and every region an AWS job record or a stack's AWS provider names."""
    regions = {default}
    for record in records.values():
        if record.region is not None:
            regions.add(record.region)
    for facts in stacks.values():
        for resource in facts.resources:
            if str(resource.get("type", "")).startswith("pulumi:providers:aws"):
                region = (resource.get("outputs") or resource.get("inputs") or {}).get("region")
                if isinstance(region, str) and region:
                    regions.add(region)
    return regions


def _held(resource: Tagged, facts: StackFacts) -> bool:
    """The stack names the resource: its ARN or id is a resource id or an output value in its state."""
    known: set[str] = set()
    for entry in facts.resources:
        known.add(str(entry.get("id") or ""))
        for value in (entry.get("outputs") or {}).values():
            values = value if isinstance(value, list) else [value]
            known.update(v for v in values if isinstance(v, str))
    return resource.arn in known or resource.ident in known
