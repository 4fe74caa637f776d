"""`gc`: the three-way check, and the clean-up it allows.

1. Stack state: every job stack on the backend and what it holds (pending creates count as live).
2. Live resources found by job id: local processes and directories (and, on AWS, tagged resources).
3. Deadlines: jobs still holding resources past ``max_runtime`` (plus grace) or the TTL.
Plus engine locks whose holder is dead. Nothing is removed unless ``apply`` is set.
"""

from __future__ import annotations

from typing import Any

from orchestrator.gc.findings import Finding, StackFacts
from orchestrator.gc.local import expired_findings, local_findings, remove_local, stale_lock_findings
from orchestrator.lifecycle.context import Runtime
from orchestrator.logs import get_logger
from orchestrator.vocabulary import JobState


def collect_stacks(rt: Runtime) -> dict[str, StackFacts]:
    """What each job stack's state holds (one export per stack)."""
    from orchestrator.engine.jobstack import JobStack

    facts = {}
    for summary in rt.workspace.list_stacks():
        with JobStack.open(rt.workspace, summary.name) as stack:
            deployment = stack.export_state()["deployment"]
        facts[summary.name] = StackFacts(
            summary.name, deployment.get("resources") or [], deployment.get("pending_operations") or []
        )
    return facts


def find_leaks(rt: Runtime, *, cloud: bool = True) -> list[Finding]:
    """Every finding of the three-way check, local and (with ``cloud``) AWS."""
    stacks = collect_stacks(rt)
    records = {r.job_id: r for r in rt.ledger.all()}
    home = rt.settings.home
    findings = local_findings(home, stacks, records, rt.settings.backend_id)
    findings += expired_findings(home, stacks, records, rt.settings.job_ttl_s)
    findings += stale_lock_findings(rt.settings.state_url, stacks)
    if cloud:
        findings += _aws_findings(rt, stacks, records)
    return findings


def clean(rt: Runtime, findings: list[Finding]) -> list[Finding]:
    """Remove what ``findings`` name; each removed finding is marked ``removed``."""
    from orchestrator.engine.jobstack import JobStack
    from orchestrator.lifecycle.teardown import teardown_job

    log = get_logger(__name__)
    for finding in findings:
        if finding.kind in ("leaked-process", "leaked-directory"):
            remove_local(finding)
        elif finding.kind == "expired-job":
            teardown_job(rt, finding.job_id, requested=JobState.CANCELLED, reason="expired: stopped by `trainctl gc`", wait_s=0.0)
            finding.removed = True
        elif finding.kind == "stale-lock":
            with JobStack.open(rt.workspace, finding.job_id) as stack:
                finding.removed = bool(stack.clear_stale_lock())
        elif finding.kind.startswith("leaked-aws"):
            from orchestrator.gc.aws_removal import remove_aws

            remove_aws(finding)
        log.info("gc.removed", kind=finding.kind, job_id=finding.job_id, resource=finding.resource, removed=finding.removed)
    return findings


def _aws_findings(rt: Runtime, stacks: dict[str, StackFacts], records: dict[str, Any]) -> list[Finding]:
    """AWS leaks, when the AWS side of gc is installed and credentials are present."""
    try:
        from orchestrator.gc.aws import aws_findings
    except ImportError:
        return []
    return aws_findings(rt.settings, stacks, records)
