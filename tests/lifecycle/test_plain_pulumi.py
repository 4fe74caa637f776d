"""Plain Pulumi on job stacks: Pulumi.yaml's `main` is a real program, and `pulumi destroy --stack JOB` from the
repository tears a running local job down (the escape hatch CI and platform teams expect)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from orchestrator.compile import compile_job
from orchestrator.engine.locate import find_engine
from orchestrator.lifecycle.offline_plan import offline_plan
from orchestrator.program import run as main_program
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.targets import get_target
from orchestrator.testing.harness import Trainctl, wait_until
from orchestrator.testing.inspect import job_processes, live_resources, watcher_processes
from tests.conftest import REPO


def test_pulumi_yaml_main_is_a_program_of_the_repository() -> None:
    """`main` names a directory with a __main__.py; no relative virtualenv that the dynamic providers could not find."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert (project["name"], project["stackConfigDir"]) == ("trainctl", "stacks")
    assert (REPO / project["main"] / "__main__.py").is_file()
    assert "virtualenv" not in project["runtime"].get("options", {})


def test_main_program_declares_what_up_declared(make_job) -> None:
    """Run under Pulumi's mock runtime with a job's stack config, `main` declares the resources of that job's target,
    tagged with its id, as `up` does."""
    loaded = load_spec(str(make_job(name="plain-program")))
    job = compile_job(loaded, "plain-program-0a0b0c", get_settings(), read_env=False)
    from_main = offline_plan(job, main_program)["resources"]
    from_up = offline_plan(job, get_target("local").program(job))["resources"]
    assert [(r["type"], r["name"]) for r in from_main] == [(r["type"], r["name"]) for r in from_up]
    assert {r["name"] for r in from_main} >= {"workdir", "artifacts", "training", "job-manifest"}
    for resource in from_main:
        assert resource["inputs"]["tags"]["trainctl:job-id"] == "plain-program-0a0b0c"


def test_plain_pulumi_destroy_tears_a_running_job_down(tc: Trainctl, make_job) -> None:
    """`pulumi destroy --stack JOB --config-file <its settings>` from the repository, with the same backend and
    passphrase: the stack is empty, `trainctl status` shows the job torn down, and no process of it is left."""
    up = tc.run(
        "up", str(make_job(steps=6000, step_s=0.1)), "--detach", "--output", "json", env={"TRAINCTL_WATCH_INTERVAL_S": "1"}
    )
    assert up.returncode == 0, up.stderr
    job_id = json.loads(up.stdout)["job_id"]
    wait_until(lambda: job_processes(job_id), timeout=30)
    settings = tc.home / "state" / ".trainctl" / "stack-settings" / "trainctl" / f"{job_id}.yaml"
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{tc.home / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(tc.home / "passphrase"),
        "PULUMI_PYTHON_CMD": sys.executable,
        "PULUMI_HOME": str(tc.home.parent / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "TRAINCTL_HOME": str(tc.home),
    }
    pulumi = str(find_engine().pulumi)
    destroy = subprocess.run(
        [pulumi, "destroy", "--stack", job_id, "--config-file", str(settings), "--yes", "--non-interactive"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    assert live_resources(tc.home, job_id) == []
    status = wait_until(lambda: (s := tc.json("status", job_id))["torn_down"] and s, timeout=60)
    assert status["state"] == "interrupted" and status["next"].startswith("trainctl up ")
    wait_until(lambda: not job_processes(job_id) and not watcher_processes(job_id), timeout=60)
    assert Path(status["outputs"]["workdir"]).exists() is False
