"""examples/ci/github-actions.yml: its shape (triggers, OIDC, concurrency, timeouts, engine cache, always-teardown,
nightly gc), and its `run:` steps run in order on this machine, as a runner would run them."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.testing.harness import Trainctl
from orchestrator.testing.inspect import job_processes, watcher_processes
from tests.conftest import REPO

WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
LOCAL = {"TRAINCTL_TARGET": "local"}  # the repository variable that points the workflow at this machine
TEARDOWN = "Tear down (always, also after a failure or a cancellation)"
TRAIN_STEPS = ("Install trainctl and the engine", "Launch", "Wait for the job", "List artifacts", TEARDOWN)


def workflow() -> dict[str, Any]:
    """The workflow document (YAML 1.1 reads the `on` key as True)."""
    document: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.pop(True)
    return document


@dataclass
class StepResult:
    """What one step did: its name, whether it ran, its exit code and output."""

    name: str
    ran: bool
    code: int = 0
    output: str = ""


@dataclass
class Run:
    """One job of the workflow run on this machine: each `run:` step in order, `uses:` steps left out."""

    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)


def run_job(name: str, event: str, variables: dict[str, str], tmp_path: Path, env: dict[str, str]) -> Run:
    """Run job ``name`` for ``event`` as a runner would: the workflow's, job's and step's env with their
    expressions evaluated, GITHUB_OUTPUT/GITHUB_STEP_SUMMARY/GITHUB_PATH in temporary files, bash -eo pipefail,
    a step's `if:` honoured (success() by default, always() after a failure)."""
    spec = workflow()
    job = spec["jobs"][name]
    context = {"vars": variables, "github": {"event_name": event}, "runner": {"os": "Linux"}, "steps": {}}
    assert evaluate(job["if"], context), f"job {name} does not run on {event}"
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    summary, path_file = tmp_path / "step-summary.md", tmp_path / "github-path"
    summary.touch()
    path_file.touch()
    base = {**env, "GITHUB_WORKSPACE": str(REPO), "GITHUB_EVENT_NAME": event, "RUNNER_TEMP": str(runner_temp), "CI": "true"}
    base |= {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_PATH": str(path_file)}
    for key, value in {**spec.get("env", {}), **job.get("env", {})}.items():
        base[key] = interpolate(str(value), context)
    result, failed = Run(), False
    for index, step in enumerate(job["steps"]):
        title = step.get("name") or step.get("uses") or f"step {index}"
        if "run" not in step:
            continue  # actions (checkout, setup-python, cache, credentials) need GitHub; their effect is here already
        condition = step.get("if", "success()")
        if not evaluate(condition, context | {"failed": failed}):
            result.steps.append(StepResult(title, ran=False))
            continue
        output_file = tmp_path / f"output-{index}"
        output_file.touch()
        step_env = {**base, "GITHUB_OUTPUT": str(output_file)}
        step_env |= {k: interpolate(str(v), context) for k, v in step.get("env", {}).items()}
        extra_path = [line for line in path_file.read_text().splitlines() if line]
        step_env["PATH"] = os.pathsep.join([*reversed(extra_path), base["PATH"]])
        script = interpolate(step["run"], context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=REPO, env=step_env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        result.steps.append(StepResult(title, ran=True, code=done.returncode, output=done.stdout + done.stderr))
        failed = failed or done.returncode != 0
        if "id" in step:
            pairs = (line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
            context["steps"][step["id"]] = {"outputs": dict(pairs)}
            result.outputs[step["id"]] = context["steps"][step["id"]]["outputs"]
    result.summary = summary.read_text()
    return result


def evaluate(condition: str, context: dict[str, Any]) -> bool:
    """The `if:` expressions this workflow uses: success(), always(), failure(), and `a == 'b'` joined by ||."""
    text = EXPRESSION.sub(r"\1", condition).strip()
    if text == "always()":
        return True
    if text == "success()":
        return not context.get("failed", False)
    if text == "failure()":
        return bool(context.get("failed", False))
    if "||" in text:
        return any(evaluate(part, context) for part in text.split("||"))
    left, op, right = re.fullmatch(r"(\S+)\s*(==|!=)\s*'([^']*)'", text).groups()  # type: ignore[union-attr]
    return (value(left, context) == right) == (op == "==")


def interpolate(text: str, context: dict[str, Any]) -> str:
    """``${{ ... }}`` replaced as GitHub does for the expressions this workflow uses (a context path, `a || 'b'`)."""

    def replace(match: re.Match[str]) -> str:
        options = [part.strip() for part in match.group(1).split("||")]
        for option in options:
            found = option[1:-1] if option.startswith("'") else value(option, context)
            if found:
                return found
        return ""

    return EXPRESSION.sub(replace, text)


def value(path: str, context: dict[str, Any]) -> str:
    """A context value by its dotted path (``steps.up.outputs.job-id``); empty when it is not set."""
    node: Any = context
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            assert path.split(".")[0] in ("vars", "steps", "github", "runner"), f"unsupported expression {path}"
            return ""
        node = node[part]
    return str(node)


@pytest.fixture
def runner_env(tc: Trainctl) -> dict[str, str]:
    """The environment a runner would start from, pointed at this test's trainctl home."""
    return {k: v for k, v in tc.env.items() if not k.startswith("GITHUB_")}


def test_workflow_has_every_part_ci_needs() -> None:
    """Pull request check + offline plan, launch on push, nightly gc, OIDC, per-job concurrency, timeouts, the
    engine cached, and a teardown that runs whatever happened before it."""
    spec = workflow()
    assert set(spec["on"]) >= {"pull_request", "push", "schedule"} and spec["on"]["push"]["branches"] == ["main"]
    assert spec["permissions"]["id-token"] == "write"
    for name, job in spec["jobs"].items():
        assert isinstance(job["timeout-minutes"], int), name
        caches = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@")]
        assert [c["with"]["path"] for c in caches] == ["~/.cache/trainctl/engine"], name
        oidc = [s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
        assert oidc and "role-to-assume" in oidc[0]["with"] and "aws-access-key-id" not in oidc[0]["with"], name
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in spec["jobs"].items()}
    assert "trainctl check" in runs["check"] and '--output markdown >> "$GITHUB_STEP_SUMMARY"' in runs["check"]
    assert "trainctl plan" in runs["check"] and "--offline" in runs["check"]
    train = spec["jobs"]["train"]
    assert train["concurrency"]["group"] == "trainctl-ci-quickstart" and train["concurrency"]["cancel-in-progress"] is False
    default_spec = interpolate(spec["env"]["JOB_SPEC"], {"vars": {}})
    assert yaml.safe_load((REPO / default_spec).read_text())["name"] == spec["env"]["JOB_NAME"] == "ci-quickstart"
    assert "--detach" in runs["train"] and "trainctl wait" in runs["train"]
    assert train["steps"][-1]["if"] == "always()" and "trainctl down" in train["steps"][-1]["run"]
    assert "trainctl gc --yes" in runs["cleanup"] and spec["on"]["schedule"][0]["cron"]


def test_pull_request_job_writes_check_and_plan_to_the_step_summary(tmp_path: Path, runner_env: dict[str, str]) -> None:
    """The pull-request job's steps pass for the AWS job as it is (offline: no credentials), and the step summary
    holds the policy verdict and the offline plan with its estimate."""
    run = run_job("check", "pull_request", {}, tmp_path, runner_env)
    assert [(s.name, s.ran, s.code) for s in run.steps] == [
        ("Install trainctl and the engine", True, 0),
        ("Policy check", True, 0),
        ("Offline plan", True, 0),
    ], [s.output for s in run.steps]
    assert "### trainctl check: `ci-quickstart` on aws (offline plan)" in run.summary
    assert "### trainctl plan: `ci-quickstart` on aws (offline plan)" in run.summary
    assert "if spot falls back to on-demand" in run.summary and "**Policy: passed**" in run.summary


def test_push_job_launches_waits_lists_artifacts_and_tears_down(tmp_path: Path, runner_env: dict[str, str], tc: Trainctl) -> None:
    """On the local target: up --detach, wait (the job succeeds), the artifacts listed in the summary, then the
    teardown; afterwards the job is torn down and none of its processes is left."""
    run = run_job("train", "push", LOCAL, tmp_path, runner_env)
    expected = [(name, True, 0) for name in TRAIN_STEPS]
    assert [(s.name, s.ran, s.code) for s in run.steps] == expected, [s.output for s in run.steps]
    job_id = run.outputs["up"]["job-id"]
    assert job_id.startswith("ci-quickstart-")
    assert f"### Artifacts of {job_id}" in run.summary
    assert "./logs/output.log" in run.summary and "./metrics.json" in run.summary
    record = tc.record(job_id)
    assert (record["state"], record["torn_down"]) == ("succeeded", True)
    assert (job_processes(job_id), watcher_processes(job_id)) == ([], [])


def test_teardown_runs_after_a_failed_wait(tmp_path: Path, runner_env: dict[str, str], tc: Trainctl, make_job) -> None:
    """A wait that times out (exit 7) fails its step: the artifacts step is skipped, the always-teardown still runs
    and stops the job that was still running; nothing of it is left."""
    long_job = str(make_job(name="ci-long", steps=600, step_s=0.1))
    variables = {**LOCAL, "TRAINCTL_WAIT_TIMEOUT": "1s", "TRAINCTL_JOB_SPEC": long_job}
    run = run_job("train", "push", variables, tmp_path, runner_env)
    expected = list(zip(TRAIN_STEPS, (True, True, True, False, True), (0, 0, 7, 0, 0), strict=True))
    assert [(s.name, s.ran, s.code) for s in run.steps] == expected, [s.output for s in run.steps]
    job_id = run.outputs["up"]["job-id"]
    record = tc.record(job_id)
    assert (record["state"], record["torn_down"]) == ("cancelled", True)
    assert (job_processes(job_id), watcher_processes(job_id)) == ([], [])


def test_nightly_cleanup_runs_gc(tmp_path: Path, runner_env: dict[str, str]) -> None:
    """The scheduled job installs trainctl and runs `gc --yes`, which passes with nothing to clean."""
    run = run_job("cleanup", "schedule", LOCAL, tmp_path, runner_env)
    assert [(s.name, s.code) for s in run.steps] == [
        ("Install trainctl and the engine", 0),
        ("Remove leaks, expired jobs and stale locks", 0),
    ], [s.output for s in run.steps]


def test_unset_repository_variables_are_unset_settings(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub passes an undefined repository variable as an empty string: an empty TRAINCTL_* setting counts as unset."""
    monkeypatch.setenv("TRAINCTL_BACKEND_URL", "")
    monkeypatch.setenv("TRAINCTL_SECRETS_PROVIDER", "")
    result = cli("ls", "--output", "json")
    assert result.exit_code == 0, result.stderr
