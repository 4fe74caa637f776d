"""Pulumi dynamic providers of the local target: working directory, artifact store, training process.

They run inside the engine's dynamic-provider process, so they import only what they need. Each
resource carries the job's tags as an input; directories carry a ``.trainctl-job.json`` marker so
that leak detection can find them by job id.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from orchestrator.agent import procs
from orchestrator.jobs.backend import BACKEND_VAR
from orchestrator.targets.local.snapshot import copy_snapshot
from orchestrator.vocabulary import Tag
from orchestrator.workdir import select_workdir

MARKER = ".trainctl-job.json"
HOME_VAR = "TRAINCTL_JOB_HOME"
_ENGINE_VARS = ("PULUMI_",)
TRACEPARENT = "TRACEPARENT"  # the engine's own, in this process: never the agent's parent
# kept for the agent's finalize (it operates the job's stack; a team backend has no passphrase of the home's own)
_KEPT_ENGINE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


def _write_marker(directory: Path, tags: dict[str, str]) -> None:
    (directory / MARKER).write_text(json.dumps(tags, sort_keys=True))


def _diff_replacing(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> DiffResult:
    changed = [k for k in keys if olds.get(k) != news.get(k)]
    return DiffResult(changes=bool(changed) or olds.get("tags") != news.get("tags"), replaces=changed, delete_before_replace=True)


class WorkdirProvider(ResourceProvider):
    """A snapshot of the job's code directory at ``dest``."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        source, dest = Path(props["source"]), Path(props["dest"])
        copy_snapshot(select_workdir(source, follow_links=bool(props.get("follow_links"))), dest)
        _write_marker(dest.parent, props["tags"])
        return CreateResult(id_=str(dest), outs={**props, "path": str(dest)})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff_replacing(olds, news, ("source", "dest", "digest"))

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write_marker(Path(news["dest"]).parent, news["tags"])
        return UpdateResult(outs={**news, "path": news["dest"]})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id if Path(id).is_dir() else None, outs=props)

    def delete(self, id: str, props: dict[str, Any]) -> None:
        run_dir = Path(props["dest"]).parent
        shutil.rmtree(run_dir, ignore_errors=True)


class ArtifactStoreProvider(ResourceProvider):
    """A directory that holds checkpoints, logs, status and outputs; retained on teardown."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        path = Path(props["path"])
        path.mkdir(parents=True, exist_ok=True)
        _write_marker(path, props["tags"])
        return CreateResult(id_=str(path), outs={**props, "url": f"file://{path}"})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff_replacing(olds, news, ("path",))

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write_marker(Path(news["path"]), news["tags"])
        return UpdateResult(outs={**news, "url": f"file://{news['path']}"})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id if Path(id).is_dir() else None, outs=props)

    def delete(self, id: str, props: dict[str, Any]) -> None:
        shutil.rmtree(props["path"], ignore_errors=True)


class TrainingProcessProvider(ResourceProvider):
    """The agent, started detached in its own session; delete stops the whole session."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        config_path = Path(props["config_path"])
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(props["agent_config"])
        log_path = Path(props["agent_log"])
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if (not k.startswith(_ENGINE_VARS) or k in _KEPT_ENGINE_VARS) and k != TRACEPARENT
        }
        trace = json.loads(props["agent_config"]).get("trace") or {}
        if trace.get("traceparent"):  # the agent's spans join the trace of the `up` that starts it
            env[TRACEPARENT] = trace["traceparent"]
        env.update(props.get("secret_env") or {})
        env["TRAINCTL_JOB_ID"] = props["tags"][Tag.JOB_ID]
        env[HOME_VAR] = props["home"]  # which trainctl home owns this process (gc looks only at its own)
        if Tag.BACKEND in props["tags"]:
            env[BACKEND_VAR] = props["tags"][Tag.BACKEND]  # and which backend holds its job's stack
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [props["python"], "-m", "orchestrator.agent", str(config_path)],
                cwd=props["workdir"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ticks = procs.start_ticks(proc.pid)
        outs = {**props, "pid": proc.pid, "start_ticks": ticks, "started_at": time.time(), "alive": True}
        return CreateResult(id_=f"{proc.pid}:{ticks}", outs=outs)

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff_replacing(olds, news, ("agent_config", "secret_env", "workdir", "python"))

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**olds, "tags": news["tags"]})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        pid, ticks = int(props["pid"]), props.get("start_ticks")
        if procs.is_alive(pid, ticks):
            return ReadResult(id_=id, outs={**props, "alive": True})
        # The agent is gone: the resource no longer exists, and the next `up` starts a new one.
        _stop_session(props, grace_s=0.5)
        return ReadResult(id_=None, outs={**props, "alive": False})

    def delete(self, id: str, props: dict[str, Any]) -> None:
        _stop_session(props, grace_s=float(props["grace_period_s"]) + 10.0)


def _stop_session(props: dict[str, Any], *, grace_s: float) -> None:
    """Stop the agent and every process of its session (SIGTERM, grace, SIGKILL); never a process that
    merely reuses the agent's pid (its start time differs from the recorded one)."""
    procs.terminate_session(int(props["pid"]), grace_s, leader_ticks=props.get("start_ticks"))


class Workdir(Resource):
    """The job's working directory: a snapshot of ``code.workdir``."""

    path: Output[str]

    def __init__(self, name: str, props: dict[str, Input[Any]], opts: ResourceOptions | None = None) -> None:
        super().__init__(WorkdirProvider(), name, {**props, "path": None}, opts)


class ArtifactStore(Resource):
    """The job's artifact directory (outlives teardown unless purged)."""

    url: Output[str]

    def __init__(self, name: str, props: dict[str, Input[Any]], opts: ResourceOptions | None = None) -> None:
        super().__init__(ArtifactStoreProvider(), name, {**props, "url": None}, opts)


class TrainingProcess(Resource):
    """The agent process supervising the run."""

    pid: Output[int]

    def __init__(self, name: str, props: dict[str, Input[Any]], opts: ResourceOptions | None = None) -> None:
        props = {"python": sys.executable, **props}
        super().__init__(TrainingProcessProvider(), name, {**props, "pid": None, "start_ticks": None, "alive": None}, opts)
