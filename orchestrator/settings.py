"""trainctl settings: ``TRAINCTL_*`` environment variables over ``$TRAINCTL_HOME/config.toml``.

A bad value is an InvalidInput error (exit 2) that names the setting and where it came from.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from orchestrator.errors import SettingsError
from orchestrator.home import engine_cache_dir, legacy_engine_dirs, trainctl_home

ENV_PREFIX = "TRAINCTL_"
# Pulumi's key-service secrets providers (besides its default, a passphrase)
SECRETS_SCHEMES = ("awskms://", "gcpkms://", "azurekeyvault://", "hashivault://")


class Settings(BaseSettings):
    """Every knob trainctl reads from its environment."""

    # An empty TRAINCTL_* variable counts as unset: CI systems pass a repository variable that is not
    # defined as an empty string (GitHub Actions' `${{ vars.X }}`).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True, env_ignore_empty=True)

    home: Path = Field(default_factory=trainctl_home)
    backend_url: str | None = Field(default=None, description="Pulumi backend URL; default file://$TRAINCTL_HOME/state")
    secrets_provider: str | None = Field(
        default=None,
        description="secrets provider of new job stacks (awskms://alias/NAME?region=R, ...); default: a passphrase",
    )
    engine_dir: Path | None = Field(
        default=None, description="where engines are cached; default $XDG_CACHE_HOME/trainctl/engine (~/.cache/trainctl/engine)"
    )
    local_hourly_usd: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    default_region: str = "us-east-1"
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto", description="logs on stderr: console on a TTY (auto), JSON lines"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="--debug means debug")
    aws_endpoint_url: str | None = None
    owner: str | None = Field(
        default=None, description="who you are in a team (a spec's owner value): `ls --mine` lists the jobs it owns"
    )
    grace_period_s: float = Field(default=10.0, gt=0, le=3600)
    poll_interval_s: float = Field(default=0.5, gt=0, le=60)
    watch_interval_s: float = Field(
        default=20.0, gt=0, le=3600, description="how often the watcher of a detached job looks at it (cloud calls each time)"
    )
    # 8: with one botocore attempt per request, 30% independent throttling fails a call 0.3^8 = 7e-5 of the time
    retry_max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_delay_s: float = Field(default=0.2, gt=0, le=60)
    retry_max_delay_s: float = Field(default=10.0, gt=0, le=600)
    retry_max_total_s: float = Field(default=60.0, gt=0, le=3600)
    local_spot_notice_url: str | None = Field(
        default=None, description="IMDS-style URL a local agent polls for a preemption notice (preemptible nodes)"
    )
    snapshot_max_mb: float = Field(default=2048, gt=0, description="the most code.workdir may ship (MB); more exits 2")
    follow_workdir_links: bool = Field(
        default=False, description="ship what symbolic links leaving code.workdir point to (default: skip them, with a notice)"
    )
    agent_start_timeout_s: float = Field(
        default=300.0, gt=0, description="a job whose agent wrote no status this long after allocation reads interrupted"
    )
    pushgateway_url: str | None = Field(
        default=None,
        description="Prometheus Pushgateway each command pushes its own metrics to at exit (a failure is a warning)",
    )
    job_ttl_s: float = Field(default=7 * 86400.0, gt=0, description="deadline of jobs without limits.max_runtime (gc)")

    @field_validator("backend_url")
    @classmethod
    def _backend_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("file://", "s3://", "https://", "azblob://", "gs://")):
            raise ValueError("must be a Pulumi backend URL: file://, s3://, azblob://, gs:// or https://")
        return value

    @field_validator("secrets_provider")
    @classmethod
    def _secrets_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "passphrase":
            return value
        if not value.startswith(SECRETS_SCHEMES) or value.rstrip("/").endswith("://"):
            raise ValueError(
                "must be `passphrase` or a key URL: awskms://alias/NAME?region=R, gcpkms://, azurekeyvault://, hashivault://"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=trainctl_home() / "config.toml")
        return (init_settings, env_settings, toml)

    @property
    def state_url(self) -> str:
        """The Pulumi backend URL in force."""
        return self.backend_url or f"file://{self.home / 'state'}"

    @property
    def backend_id(self) -> str:
        """The short id of the backend in force (tag ``trainctl:backend`` on every job resource)."""
        from orchestrator.jobs.backend import backend_id

        return backend_id(self.state_url)

    @property
    def engines(self) -> Path:
        """The directory that holds engine versions: ``engine_dir``, else the per-user cache."""
        return self.engine_dir or engine_cache_dir()

    @property
    def legacy_engines(self) -> tuple[Path, ...]:
        """Where earlier trainctl versions cached engines (inside the home); `engine install` adopts one found there."""
        return tuple(d for d in legacy_engine_dirs(self.home) if d.absolute() != self.engines.absolute())

    @property
    def passphrase_file(self) -> Path:
        """The file that holds the secrets passphrase of the default backend."""
        return self.home / "passphrase"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings in force, read once per process."""
    return load_settings()


def load_settings(**overrides: Any) -> Settings:
    """Read settings; raise SettingsError naming each bad one."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = [f"{ENV_PREFIX}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in e.errors()]
        raise SettingsError(
            "invalid trainctl setting: " + "; ".join(problems),
            details=problems,
            hint=f"fix the environment variable or {trainctl_home() / 'config.toml'}",
        ) from None
    except (OSError, ValueError) as e:
        raise SettingsError(f"cannot read {trainctl_home() / 'config.toml'}: {e}") from None
