"""Job spec version 1 as pydantic models (DESIGN.md: the field names are a contract).

Strict input: every model forbids unknown keys and most scalars are strict (no silent coercion of
``"yes"`` into a bool). Durations are stored as whole seconds and written back in their shortest
spelling, so a normalized spec loads to the same model.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import BeforeValidator

from orchestrator.spec.durations import DURATION_PATTERN, format_duration, parse_duration

API_VERSION = "trainctl/v1"
TARGETS = ("local", "aws")
CLOUD_RESOURCE_FIELDS = ("instance_type", "spot", "on_demand_fallback", "disk_gb", "region", "ami")
_JOB_NAME = re.compile(r"^[a-z0-9-]{3,40}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV_PREFIX = "TRAINCTL_"


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("must be a duration string such as 90s, 30m, 2h or 1d")
    return parse_duration(value)


Duration = Annotated[
    int,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["90s", "30m", "2h", "1d"]}),
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
    region: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")] | None = None
    ami: Annotated[str, StringConstraints(strict=True, pattern=r"^ami-[0-9a-f]{8,17}$")] | None = None


class Code(_Strict):
    """What to ship and what to run."""

    workdir: Annotated[str, StringConstraints(strict=True, min_length=1)] = "."
    setup: Annotated[str, StringConstraints(strict=True, min_length=1)] | None = None
    run: Annotated[str, StringConstraints(strict=True, min_length=1)]


class Checkpoints(_Strict):
    """Where the training script writes checkpoints and how they are kept."""

    path: Annotated[str, StringConstraints(strict=True, min_length=1)] = "checkpoints"
    sync_interval: Duration = 60
    keep_last: Annotated[StrictInt, Field(ge=1, le=1000)] = 3

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError("must be a relative path inside the job's working directory")
        return value


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

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=False)

    api_version: Literal["trainctl/v1"] = Field(default="trainctl/v1", alias="apiVersion")
    name: Annotated[str, StringConstraints(strict=True)]
    team: TagValue
    owner: TagValue
    cost_center: TagValue | None = None
    target: Literal["local", "aws"] = "local"
    resources: Resources = Resources()
    code: Code
    env: dict[Annotated[str, StringConstraints(strict=True)], Annotated[str, StringConstraints(strict=True)]] = {}
    secrets: list[Annotated[str, StringConstraints(strict=True)]] = []
    checkpoints: Checkpoints = Checkpoints()
    limits: Limits = Limits()
    restarts: Restarts = Restarts()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _JOB_NAME.match(value):
            raise ValueError("must be 3 to 40 characters of lowercase letters, digits and '-'")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            _check_env_name(key)
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for key in value:
            _check_env_name(key)
        if len(set(value)) != len(value):
            raise ValueError("lists a secret name more than once")
        return value

    @model_validator(mode="after")
    def _target_needs(self) -> JobSpec:
        if self.target == "aws" and self.resources.instance_type is None:
            raise ValueError("resources.instance_type is required when target is aws")
        clash = set(self.env) & set(self.secrets)
        if clash:
            raise ValueError(f"{', '.join(sorted(clash))} is both in env and in secrets")
        return self

    def ignored_cloud_fields(self) -> list[str]:
        """Cloud-only resource fields set in a spec whose target is local."""
        if self.target != "local":
            return []
        return [f"resources.{f}" for f in CLOUD_RESOURCE_FIELDS if f in self.resources.model_fields_set]

    def with_target(self, target: str) -> JobSpec:
        """The same spec aimed at another target (``plan``/``up --target``), validated again."""
        data = self.to_document()
        data["target"] = target
        return JobSpec.model_validate(data)

    def to_document(self) -> dict[str, Any]:
        """The normalized spec as a plain document, every default written out."""
        return self.model_dump(mode="json", by_alias=True)


def _check_env_name(key: str) -> None:
    if not _ENV_NAME.match(key):
        raise ValueError(f"{key!r} is not a valid environment variable name")
    if key.startswith(RESERVED_ENV_PREFIX):
        raise ValueError(f"{key!r}: names starting with {RESERVED_ENV_PREFIX} are reserved for trainctl")
