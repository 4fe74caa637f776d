"""The job manifest: a side-effect-free dynamic resource carrying the job-level facts policies judge.

Resources alone do not say what a job may cost or how long it may run; the manifest does. Every
target's program declares it first (``declare_manifest(job)``), and every resource declared after it
depends on it (a stack transformation adds the dependency): the engine registers nothing else until
the manifest has passed the policy pack, so a mandatory cost, runtime or tag violation stops the update
before anything exists. Its provider does nothing but hand its inputs back.
"""

from __future__ import annotations

from typing import Any

from pulumi import Input, ResourceOptions, ResourceTransformationArgs, ResourceTransformationResult
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from orchestrator.compile import CompiledJob
from orchestrator.vocabulary import MANIFEST_KIND

MANIFEST_NAME = "job-manifest"
_DECLARED = "_trainctl_manifest"  # attribute of the program's root stack resource


def manifest_props(job: CompiledJob) -> dict[str, Any]:
    """The manifest's inputs: the job's identity, what it runs on (``nodes`` alike machines), its limits
    and its price (for every node)."""
    spec, resources = job.spec, job.spec.resources
    cloud = spec.target != "local"
    return {
        "kind": MANIFEST_KIND,
        "job_id": job.job_id,
        "target": spec.target,
        "team": spec.team,
        "owner": spec.owner,
        "instance_type": resources.instance_type if cloud else None,
        "region": job.region if cloud else None,
        "spot": resources.spot if cloud else False,
        "on_demand_fallback": resources.on_demand_fallback if cloud else False,
        "disk_gb": resources.disk_gb if cloud else None,
        "nodes": resources.nodes,
        "max_runtime_s": spec.limits.max_runtime,
        "max_cost_usd": spec.limits.max_cost_usd,
        "hourly_usd": job.hourly_usd,
        "tags": dict(job.tags),
    }


def declare_manifest(job: CompiledJob) -> JobManifest:
    """Declare the manifest first in a target's Pulumi program; every resource declared after it depends on it.

    Declaring it again in the same program returns the first one (a wrapper and the target may both call this).
    """
    import pulumi

    root = pulumi.runtime.get_root_resource()
    existing = getattr(root, _DECLARED, None)
    if isinstance(existing, JobManifest):
        return existing
    manifest = JobManifest(MANIFEST_NAME, manifest_props(job))
    pulumi.runtime.register_stack_transformation(_after(manifest))
    if root is not None:
        setattr(root, _DECLARED, manifest)
    return manifest


def _after(manifest: JobManifest) -> Any:
    """A stack transformation making each later resource depend on ``manifest``."""

    def transform(args: ResourceTransformationArgs) -> ResourceTransformationResult | None:
        if args.resource is manifest:
            return None
        opts = ResourceOptions.merge(args.opts, ResourceOptions(depends_on=[manifest]))
        return ResourceTransformationResult(args.props, opts)

    return transform


class ManifestProvider(ResourceProvider):
    """Keeps the manifest's inputs as its state; touches nothing."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(props["job_id"]), outs=props)

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = {k for k in olds.keys() | news.keys() if not k.startswith("__") and olds.get(k) != news.get(k)}
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id, outs=props)

    def delete(self, id: str, props: dict[str, Any]) -> None:
        return None


class JobManifest(Resource):
    """The job's facts as a resource (``kind: trainctl:job``) for the policy pack to read."""

    def __init__(self, name: str, props: dict[str, Input[Any]], opts: ResourceOptions | None = None) -> None:
        super().__init__(ManifestProvider(), name, props, opts)
