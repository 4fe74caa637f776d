"""LocalTarget: declares workdir, artifact store and training process; observes the agent's status.

A multi-node job (``resources.nodes: N``) gets N node agents on this machine, each with its own copy
of the working directory and its own process session, rendezvousing on loopback at a port chosen free
when the stack goes up; they share the job's artifact store (orchestrator/agent/group.py).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.layout import node_output_key, node_status_key
from orchestrator.compile import CompiledJob
from orchestrator.jobs.records import JobRecord
from orchestrator.spec.loader import LoadedSpec
from orchestrator.targets.base import (
    Decision,
    NodeView,
    Observation,
    Preflight,
    group_observation,
    no_status,
    node_count,
    status_fields,
)
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

    def node_configs(self, job: CompiledJob) -> list[AgentConfig]:
        """One agent config per node: rank 0 is the job's agent; on a multi-node job every node gets its
        own working directory and the loopback rendezvous (a port free now), and only rank 0 finalizes."""
        agent = self.agent_config(job)
        nodes = job.spec.resources.nodes
        if nodes == 1:
            return [agent]
        group = replace(
            agent,
            num_nodes=nodes,
            node_addrs=[LOOPBACK] * nodes,
            master_port=free_port(),
            launch_id=secrets.token_hex(6),
            node_timeout_s=NODE_TIMEOUT_S,
        )
        return [group] + [
            replace(group, node_rank=rank, workdir=str(node_dir(job.run_dir, rank) / "work"), finalize_command=None)
            for rank in range(1, nodes)
        ]

    def program(self, job: CompiledJob) -> Callable[[], None]:
        agents = self.node_configs(job)

        def declare() -> None:
            import pulumi

            from orchestrator.targets.local.providers import ArtifactStore, TrainingProcess, Workdir
            from orchestrator.targets.local.snapshot import digest
            from orchestrator.targets.manifest import declare_manifest

            declare_manifest(job)  # job-level facts for the policy pack; everything below depends on it

            config = pulumi.Config(CONFIG_NAMESPACE)
            secret_env: Any = config.get_secret_object(StackConfig.SECRETS) or {}
            tags = job.tags
            store = ArtifactStore(
                "artifacts", {"path": str(job.artifacts_dir), "tags": tags}, pulumi.ResourceOptions(retain_on_delete=True)
            )
            code_digest = digest(job.workdir)
            pids = []
            for agent in agents:
                suffix = f"-{agent.node_rank}" if agent.node_rank else ""  # rank 0 keeps a one-node job's names
                snapshot: dict[str, Any] = {
                    "source": str(job.source_dir),
                    "dest": agent.workdir,
                    "digest": code_digest,
                    "tags": tags,
                }
                if job.follow_links:
                    snapshot["follow_links"] = True
                workdir = Workdir(f"workdir{suffix}", snapshot)
                process = TrainingProcess(
                    f"training{suffix}",
                    {
                        "agent_config": json.dumps(asdict(agent), sort_keys=True),
                        "config_path": str(Path(agent.workdir).parent / "agent.json"),
                        "agent_log": str(job.artifacts_dir / "logs" / f"agent{suffix}.log"),
                        "workdir": agent.workdir,
                        "secret_env": secret_env,
                        "grace_period_s": job.grace_period_s,
                        "home": str(job.home),
                        "tags": tags,
                    },
                    pulumi.ResourceOptions(depends_on=[workdir, store]),
                )
                pids.append(process.pid)
                if agent.node_rank == 0:
                    pulumi.export("workdir", workdir.path)
                    pulumi.export("pid", process.pid)
            pulumi.export("artifacts", store.url)
            if len(agents) > 1:
                pulumi.export("pids", pids)

        return declare

    def observe(self, record: JobRecord) -> Observation:
        nodes = node_count(record)
        if nodes == 1:
            return self._observe_node(record, 0)
        views = [NodeView(rank, self._observe_node(record, rank)) for rank in range(nodes)]
        return group_observation(views)

    def _observe_node(self, record: JobRecord, rank: int) -> Observation:
        status = _read_status(record, rank)
        if status is None:
            return no_status(record, _agent_start_timeout_s())
        state = RunState(status.get("state", RunState.RUNNING))
        fields = status_fields(status)
        if state in RUN_ALIVE and not _agent_alive(status):
            return Observation(state=RunState.GONE, **{**fields, "reason": _agent_death(status)})
        return Observation(state=state, **fields)

    def read_log(self, record: JobRecord, offset: int, *, node: int = 0) -> tuple[bytes, int]:
        path = _artifacts(record) / node_output_key(node)
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
        return {k: outputs[k] for k in ("workdir", "artifacts", "pid", "pids") if k in outputs}

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


LOOPBACK = "127.0.0.1"
NODE_TIMEOUT_S = 15.0  # nodes on one machine: a heartbeat that stopped this long means the node is gone


def node_dir(run_dir: Path, rank: int) -> Path:
    """Node ``rank``'s scratch space (its working directory lives below it); rank 0's is the job's run dir.

    The other nodes' sit beside it (``runs/<job>.node-K``), so that removing one never removes another.
    """
    return run_dir if rank == 0 else run_dir.with_name(f"{run_dir.name}.node-{rank}")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the rendezvous port of a multi-node job)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


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


def _read_status(record: JobRecord, rank: int = 0) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads((_artifacts(record) / node_status_key(rank)).read_text())
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
