"""Job spec version 1 as pydantic models (the field names are a contract: docs/spec.md, generated from here).

Strict input: every model forbids unknown keys and most scalars are strict (no silent coercion of
``"yes"`` into a bool). Durations are stored as whole seconds and written back in their shortest
spelling, so a normalized spec loads to the same model. The rules a JSON Schema cannot say live in
``orchestrator.spec.rules`` and are named in the generated schema, so the pydantic-free fast path of
``trainctl validate`` (``orchestrator.spec.fastpath``) runs the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.functional_validators import BeforeValidator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from orchestrator.spec import rules
from orchestrator.spec.durations import DURATION_PATTERN, format_duration
from orchestrator.spec.rules import DOCUMENT_RULES_KEY, RULE_KEY


@dataclass(frozen=True)
class Rule:
    """Run ``rules.FIELD_RULES[name]`` after a field's own checks, and name it in the JSON Schema."""

    name: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(rules.FIELD_RULES[self.name], handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema[RULE_KEY] = self.name
        return json_schema


Duration = Annotated[
    int,
    BeforeValidator(rules.duration_seconds),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["90s", "30m", "2h", "1d"], RULE_KEY: "duration"}),
]
TagValue = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=256, pattern=r"^[\w .:/=+\-@]+$")]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    # defer_build: a nested model's own validator is never used (JobSpec's inlines it), so building it
    # at import would only slow down every `trainctl validate` (start-up time is a feature).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Resources(_Strict):
    """What the job runs on. Cloud fields are ignored (with a notice) on the local target."""

    instance_type: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")] | None = Field(
        default=None, description="the cloud instance type, e.g. g5.xlarge; required when target is aws"
    )
    nodes: Annotated[StrictInt, Field(ge=1, le=64)] = Field(
        default=1,
        description="machines the job runs on, all alike; more than 1 is a distributed job (torchrun's "
        "NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT are set on every node)",
    )
    spot: StrictBool = Field(default=False, description="buy spot capacity")
    on_demand_fallback: StrictBool = Field(default=True, description="with spot: launch on-demand when no spot capacity is left")
    disk_gb: Annotated[StrictInt, Field(ge=8, le=16384)] = Field(
        default=50,
        description="root volume size in GB; on aws raised to the boot image's root snapshot when smaller "
        "(75 GB for the GPU image), with a notice in plan",
    )
    region: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] | None = Field(
        default=None, description="cloud region; when unset, the default_region setting"
    )
    ami: Annotated[str, StringConstraints(strict=True, pattern=r"^ami-[0-9a-f]{8,17}$")] | None = Field(
        default=None, description="overrides the machine image trainctl finds"
    )


class Code(_Strict):
    """What to ship and what to run."""

    workdir: Annotated[str, StringConstraints(strict=True, min_length=1)] = Field(
        default=".", description="directory shipped to the target, relative to the spec file (.gitignore honoured)"
    )
    setup: Annotated[str, StringConstraints(strict=True, min_length=1)] | None = Field(
        default=None, description="shell command run once before run"
    )
    run: Annotated[str, StringConstraints(strict=True, min_length=1)] = Field(description="shell command that trains")


class Checkpoints(_Strict):
    """Where the training script writes checkpoints and how they are kept."""

    path: Annotated[str, StringConstraints(strict=True, min_length=1), Rule("relative_path")] = Field(
        default="checkpoints", description="where the script writes checkpoints ($TRAINCTL_CHECKPOINT_DIR)"
    )
    # The default is written as a user would write it, so the JSON Schema shows "1m", not 60.
    sync_interval: Duration = Field(
        default="1m", validate_default=True, description="how often new checkpoints are copied to the artifact store"
    )
    keep_last: Annotated[StrictInt, Field(ge=1, le=1000)] = Field(default=3, description="checkpoints kept in the store")


class Limits(_Strict):
    """Hard stops: wall-clock runtime and dollars."""

    max_runtime: Duration | None = Field(default=None, description="the job is stopped when it has run this long")
    max_cost_usd: Positive | None = Field(
        default=None, description="the job is stopped when its cost reaches this many dollars (also a policy check)"
    )


class Restarts(_Strict):
    """How many times the run is relaunched."""

    max_preemptions: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        default=3, description="spot interruptions recovered by relaunching and resuming from the newest checkpoint"
    )
    max_failures: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        default=0, description="runs that exit non-zero are restarted this many times"
    )


class JobSpec(_Strict):
    """A training job: the top level of a trainctl spec file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        defer_build=False,
        json_schema_extra={DOCUMENT_RULES_KEY: list(rules.DOCUMENT_RULES)},
    )

    api_version: Literal["trainctl/v1"] = Field(default="trainctl/v1", alias="apiVersion", description="spec version")
    name: Annotated[str, StringConstraints(strict=True), Rule("job_name")] = Field(
        description="the job's name; job ids are the name plus 6 hex digits"
    )
    team: TagValue = Field(description="the trainctl:team tag")
    owner: TagValue = Field(description="the trainctl:owner tag")
    cost_center: TagValue | None = Field(default=None, description="the trainctl:cost-center tag, when set")
    target: Literal["local", "aws"] = Field(default="local", description="where the job runs; plan and up --target override it")
    resources: Resources = Field(default=Resources(), description="what the job runs on")
    code: Code = Field(description="what to ship and run")
    env: Annotated[
        dict[Annotated[str, StringConstraints(strict=True)], Annotated[str, StringConstraints(strict=True)]], Rule("env_names")
    ] = Field(default={}, description="environment variables of the run (string values)")
    secrets: Annotated[list[Annotated[str, StringConstraints(strict=True)]], Rule("secret_names")] = Field(
        default=[], description="names of variables read from the caller's environment at up, stored encrypted"
    )
    checkpoints: Checkpoints = Field(default=Checkpoints(), description="checkpoint sync")
    limits: Limits = Field(default=Limits(), description="hard stops")
    restarts: Restarts = Field(default=Restarts(), description="relaunches")

    @model_validator(mode="after")
    def _document_rules(self) -> JobSpec:
        rules.check_document(self.to_document())
        return self

    def ignored_cloud_fields(self) -> list[str]:
        """Cloud-only resource fields set in a spec whose target is local."""
        return rules.ignored_cloud_fields(self.target, self.resources.model_fields_set)

    def with_target(self, target: str) -> JobSpec:
        """The same spec aimed at another target (``plan``/``up --target``), validated again."""
        data = self.to_document()
        data["target"] = target
        return JobSpec.model_validate(data)

    def to_document(self) -> dict[str, Any]:
        """The normalized spec as a plain document, every default written out."""
        return self.model_dump(mode="json", by_alias=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec, as `trainctl schema` prints it and the fast path reads it."""
    schema = JobSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://trainctl.dev/schema/trainctl-v1.json"
    return schema
