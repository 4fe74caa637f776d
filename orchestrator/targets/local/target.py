"""LocalTarget: declares workdir, artifact store and training process; observes the agent's status."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.supervisor import OUTPUT_KEY, STATUS_KEY
from orchestrator.compile import CompiledJob
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets.base import Decision, Observation, Preflight, no_status, status_fields
from orchestrator.vocabulary import CONFIG_NAMESPACE, RUN_ALIVE, RunState, StackConfig


class LocalTarget:
    """Jobs run as a supervised process tree on this machine."""

    name = "local"

    def agent_config(self, job: CompiledJob) -> AgentConfig:
        return job.agent_config(
            workdir=str(job.run_dir / "work"),
            store_url=f"file://{job.artifacts_dir}",
            finalize_command=[sys.executable, "-m", "orchestrator", "--log-format", "json", "finalize", job.job_id],
            spot_notice_url=_spot_notice_url(),
        )

    def preflight(self, loaded: LoadedSpec, *, region: str | None, offline: bool) -> Preflight:
        """Nothing to check before a local run."""
        return Preflight(loaded)

    def program(self, job: CompiledJob) -> Callable[[], None]:
        agent = self.agent_config(job)

        def declare() -> None:
            import pulumi

            from orchestrator.targets.local.providers import ArtifactStore, TrainingProcess, Workdir
            from orchestrator.targets.local.snapshot import digest
            from orchestrator.targets.manifest import declare_manifest

            declare_manifest(job)  # job-level facts for the policy pack; everything below depends on it

            config = pulumi.Config(CONFIG_NAMESPACE)
            secret_env: Any = config.get_secret_object(StackConfig.SECRETS) or {}
            tags = job.tags
            snapshot: dict[str, Any] = {
                "source": str(job.source_dir),
                "dest": agent.workdir,
                "digest": digest(job.workdir),
                "tags": tags,
            }
            if job.follow_links:
                snapshot["follow_links"] = True
            workdir = Workdir("workdir", snapshot)
            store = ArtifactStore(
                "artifacts", {"path": str(job.artifacts_dir), "tags": tags}, pulumi.ResourceOptions(retain_on_delete=True)
            )
            process = TrainingProcess(
                "training",
                {
                    "agent_config": json.dumps(asdict(agent), sort_keys=True),
                    "config_path": str(job.run_dir / "agent.json"),
                    "agent_log": str(job.artifacts_dir / "logs" / "agent.log"),
                    "workdir": agent.workdir,
                    "secret_env": secret_env,
                    "grace_period_s": job.grace_period_s,
                    "home": str(job.home),
                    "tags": tags,
                },
                pulumi.ResourceOptions(depends_on=[workdir, store]),
            )
            pulumi.export("workdir", workdir.path)
            pulumi.export("artifacts", store.url)
            pulumi.export("pid", process.pid)

        return declare

    def observe(self, record: JobRecord) -> Observation:
        status = _read_status(record)
        if status is None:
            return no_status(record, _agent_start_timeout_s())
        state = RunState(status.get("state", RunState.RUNNING))
        fields = status_fields(status)
        if state in RUN_ALIVE and not _agent_alive(status):
            return Observation(state=RunState.GONE, **{**fields, "reason": _agent_death(status)})
        return Observation(state=state, **fields)

    def read_log(self, record: JobRecord, offset: int) -> tuple[bytes, int]:
        path = _artifacts(record) / OUTPUT_KEY
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def purge(self, record: JobRecord) -> list[str]:
        path = _artifacts(record)
        if not path.exists():
            return []
        shutil.rmtree(path)
        return [str(path)]

    def outputs_summary(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return {k: outputs[k] for k in ("workdir", "artifacts", "pid") if k in outputs}

    def relaunch_decision(self, record: JobRecord) -> Decision:
        from orchestrator.agent.checkpoints import stored_checkpoints
        from orchestrator.agent.store import LocalStore
        from orchestrator.targets.preemption import decide

        stored = stored_checkpoints(LocalStore(_artifacts(record)))
        newest = str(_artifacts(record) / "checkpoints" / stored[-1][0]) if stored else None
        return decide(
            self.observe(record),
            preemptions=record.preemptions,
            max_preemptions=record.job_spec().restarts.max_preemptions,
            newest_checkpoint=newest,
        )


def _spot_notice_url() -> str | None:
    """Where a local agent polls for a preemption notice (IMDS-style), e.g. on preemptible on-prem nodes."""
    from orchestrator.settings import get_settings

    return get_settings().local_spot_notice_url


def _agent_start_timeout_s() -> float:
    from orchestrator.settings import get_settings

    return get_settings().agent_start_timeout_s


def _artifacts(record: JobRecord) -> Path:
    url = record.outputs.get("artifacts")
    if isinstance(url, str) and url.startswith("file://"):
        return Path(url[len("file://") :])
    from orchestrator.settings import get_settings

    return get_settings().home / "artifacts" / record.job_id


def _read_status(record: JobRecord) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads((_artifacts(record) / STATUS_KEY).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return loaded


def _agent_alive(status: dict[str, Any]) -> bool:
    """The agent runs on this machine, so its pid and start time answer directly (the heartbeat is for
    remote agents)."""
    from orchestrator.agent.procs import is_alive

    pid = status.get("pid")
    return isinstance(pid, int) and is_alive(pid, status.get("start_ticks"))


def _agent_death(status: dict[str, Any]) -> str:
    from orchestrator.agent.procs import describe_dead

    pid = status.get("pid")
    return f"agent died ({describe_dead(pid, status.get('start_ticks'))})" if isinstance(pid, int) else "agent died"
