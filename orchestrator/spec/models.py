"""Job spec version 1 as pydantic models (DESIGN.md: the field names are a contract).

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

API_VERSION = "trainctl/v1"


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

    instance_type: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")] | None = None
    spot: StrictBool = False
    on_demand_fallback: StrictBool = True
    disk_gb: Annotated[StrictInt, Field(ge=8, le=16384)] = 50
    region: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] | None = None
    ami: Annotated[str, StringConstraints(strict=True, pattern=r"^ami-[0-9a-f]{8,17}$")] | None = None


class Code(_Strict):
    """What to ship and what to run."""

    workdir: Annotated[str, StringConstraints(strict=True, min_length=1)] = "."
    setup: Annotated[str, StringConstraints(strict=True, min_length=1)] | None = None
    run: Annotated[str, StringConstraints(strict=True, min_length=1)]


class Checkpoints(_Strict):
    """Where the training script writes checkpoints and how they are kept."""

    path: Annotated[str, StringConstraints(strict=True, min_length=1), Rule("relative_path")] = "checkpoints"
    # The default is written as a user would write it, so the JSON Schema shows "1m", not 60.
    sync_interval: Duration = Field(default="1m", validate_default=True)
    keep_last: Annotated[StrictInt, Field(ge=1, le=1000)] = 3


class Limits(_Strict):
    """Hard stops: wall-clock runtime and dollars."""

    max_runtime: Duration | None = None
    max_cost_usd: Positive | None = None


class Restarts(_Strict):
    """How many times the run is relaunched."""

    max_preemptions: Annotated[StrictInt, Field(ge=0, le=100)] = 3
    max_failures: Annotated[StrictInt, Field(ge=0, le=100)] = 0


class JobSpec(_Strict):
    """A training job: the top level of a trainctl spec file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        defer_build=False,
        json_schema_extra={DOCUMENT_RULES_KEY: list(rules.DOCUMENT_RULES)},
    )

    api_version: Literal["trainctl/v1"] = Field(default="trainctl/v1", alias="apiVersion")
    name: Annotated[str, StringConstraints(strict=True), Rule("job_name")]
    team: TagValue
    owner: TagValue
    cost_center: TagValue | None = None
    target: Literal["local", "aws"] = "local"
    resources: Resources = Resources()
    code: Code
    env: Annotated[
        dict[Annotated[str, StringConstraints(strict=True)], Annotated[str, StringConstraints(strict=True)]], Rule("env_names")
    ] = {}
    secrets: Annotated[list[Annotated[str, StringConstraints(strict=True)]], Rule("secret_names")] = []
    checkpoints: Checkpoints = Checkpoints()
    limits: Limits = Limits()
    restarts: Restarts = Restarts()

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
