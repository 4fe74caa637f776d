"""`plan --offline`: every resource a job's program would declare, with no engine, network or credentials.

The target's program runs under Pulumi's mock runtime (``pulumi.runtime.set_mocks``) in a thread of
its own, so its event loop and Pulumi's context variables never touch the caller's. The mocks record
each registration as the engine would see it: type token, logical name, provider reference and inputs
under their wire names (camelCase), provider resources (``pulumi:providers:aws``) and dynamic
resources (``pulumi-python:dynamic:Resource``) included. Mocks answer with plausible placeholder
outputs (ids, ARNs in account 000000000000) so that documents built from them, such as IAM policies,
read as they will. Secrets are never given to the program: their values are masked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.compile import CompiledJob
from orchestrator.errors import InternalError, TrainctlError
from orchestrator.vocabulary import StackConfig, config_key

PROJECT = "trainctl"
ACCOUNT = "000000000000"
MASK = "[secret]"
COMPUTED = "<computed>"
_SIG_KEY = "4dabf18193072939515e22adb298388d"  # Pulumi's wire signature key; this value marks a secret
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a wire marker, not a secret


def offline_plan(job: CompiledJob, program: Callable[[], None]) -> dict[str, Any]:
    """Run ``program`` under mocks; return ``{"stack", "project", "target", "region", "resources", "outputs"}``."""
    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.update(_run_mocked(job, program))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(e)

    thread = threading.Thread(target=run, name=f"offline-plan-{job.job_id}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        error = failure[0]
        if isinstance(error, TrainctlError):
            raise error
        raise InternalError(f"offline plan of {job.job_id} failed: {type(error).__name__}: {error}") from error
    return {
        "stack": job.job_id,
        "project": PROJECT,
        "target": job.spec.target,
        "region": job.region,
        **result,
    }


def _run_mocked(job: CompiledJob, program: Callable[[], None]) -> dict[str, Any]:
    import asyncio

    import pulumi
    from pulumi.runtime.mocks import MockMonitor, set_mocks
    from pulumi.runtime.settings import ROOT
    from pulumi.runtime.stack import run_in_stack

    recorder = _recorder_class()(job.region or "local")

    class _Monitor(MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
            recorder.options(request)
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]

        def RegisterResourceOutputs(self, request: Any) -> Any:
            recorder.stack_outputs(request)
            return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        secrets_key = config_key(StackConfig.SECRETS)
        config = {**job.stack_config(), secrets_key: json.dumps(dict.fromkeys(job.secret_values, MASK), sort_keys=True)}
        config[config_key(StackConfig.OFFLINE)] = "true"
        pulumi.runtime.set_all_config(config, [secrets_key])
        set_mocks(recorder, project=PROJECT, stack=job.job_id, preview=True, monitor=_Monitor(recorder))
        ROOT.set(None)  # set_mocks made and finished a root stack; run_in_stack makes one that records exports
        loop.run_until_complete(run_in_stack(program))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    # Registration order varies run to run (registrations are asynchronous): providers first, then by name.
    ordered = sorted(recorder.resources, key=lambda r: (not r["type"].startswith("pulumi:providers:"), r["name"], r["type"]))
    return {"resources": ordered, "outputs": recorder.outputs}


def _recorder_class() -> Any:
    """Pulumi Mocks that record each registration (built on first use: the base class is Pulumi's)."""
    from pulumi.runtime.mocks import Mocks

    class Recorder(Mocks):
        def __init__(self, region: str) -> None:
            self.region = region
            self.resources: list[dict[str, Any]] = []
            self.outputs: dict[str, Any] = {}
            self._options: dict[tuple[str, str], dict[str, Any]] = {}
            self._lock = threading.Lock()

        def options(self, request: Any) -> None:
            """Resource options the mocks' arguments leave out: retention, replacement order, dependencies."""
            found: dict[str, Any] = {}
            if request.retainOnDelete:
                found["retain_on_delete"] = True
            if request.deleteBeforeReplace:
                found["delete_before_replace"] = True
            if request.protect:
                found["protect"] = True
            if request.dependencies:
                found["depends_on"] = sorted({urn.rsplit("::", 1)[-1] for urn in request.dependencies})
            with self._lock:
                self._options[(request.type, request.name)] = found

        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            inputs = dict(args.inputs)
            entry: dict[str, Any] = {"type": args.typ, "name": args.name, "inputs": plain(inputs)}
            if args.provider:
                entry["provider"] = args.provider
            if args.resource_id:
                entry["import"] = args.resource_id
            with self._lock:
                entry.update(self._options.pop((args.typ, args.name), {}))
                self.resources.append(entry)
            return placeholder_outputs(args.typ, args.name, inputs, self.region)

        def call(self, args: Any) -> tuple[dict[str, Any], None]:
            return {}, None  # no invoke reaches a provider offline (trainctl's programs make none)

        def stack_outputs(self, request: Any) -> None:
            if "::pulumi:pulumi:Stack::" not in request.urn:
                return
            from pulumi.runtime import rpc

            with self._lock:
                self.outputs = plain(rpc.deserialize_properties(request.outputs))

    return Recorder


def placeholder_outputs(typ: str, name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    """A mock's answer: the inputs, an id, and the computed outputs programs commonly read."""
    named = inputs.get("bucket") or inputs.get("name")
    resource_id = str(named) if isinstance(named, str) and named else f"{name}-offline-id"
    outputs = dict(inputs)
    module, _, kind = typ.partition(":")[2].partition(":")
    service = module.split("/")[0]
    if typ == "aws:s3/bucket:Bucket":
        outputs["arn"] = f"arn:aws:s3:::{resource_id}"
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        outputs["arn"] = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{resource_id}"
    elif typ == "aws:iam/role:Role":
        outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{resource_id}"
    elif typ == "aws:iam/instanceProfile:InstanceProfile":
        outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:instance-profile/{resource_id}"
    elif typ == "aws:ssm/parameter:Parameter":
        outputs["arn"] = f"arn:aws:ssm:{region}:{ACCOUNT}:parameter{resource_id}"
    elif typ.startswith("aws:"):
        outputs.setdefault("arn", f"arn:aws:{service}:{region}:{ACCOUNT}:{kind.lower()}/{resource_id}")
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        resource_id = "lt-offline"
        outputs["latestVersion"] = 1
    elif typ == "aws:ec2/securityGroup:SecurityGroup":
        resource_id = "sg-offline"
    if typ == "pulumi-python:dynamic:Resource":
        outputs = {k: (v if v is not None else COMPUTED) for k, v in outputs.items() if k != "__provider"}
    outputs.setdefault("id", resource_id)
    return resource_id, outputs


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: unknowns, assets, archives and resource references made readable."""
    import pulumi
    from pulumi.output import Unknown

    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return MASK
        return {k: ("<dynamic provider>" if k == "__provider" else plain(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Unknown):
        return COMPUTED
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive | pulumi.RemoteAsset | pulumi.RemoteArchive):
        return {type(value).__name__: str(value.path if hasattr(value, "path") else value.uri)}
    if isinstance(value, pulumi.StringAsset):
        return {"StringAsset": value.text}
    if isinstance(value, pulumi.AssetArchive):
        return {"AssetArchive": sorted(value.assets)}
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
