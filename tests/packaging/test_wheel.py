"""trainctl installed from its wheel into a fresh venv, used from a directory outside the repository.

What a user gets from `pipx install` / `pip install trainctl-*.whl`: every command that reads files
shipped with trainctl (the policy pack, the price catalog, the spec schema, the init templates) works
with no checkout in sight.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO
from tests.packaging.conftest import Installed, User

# The first test also builds the sdist, the wheel and the venv (minutes on a busy machine): beyond the suite's 300 s.
pytestmark = [pytest.mark.engine, pytest.mark.timeout(1200)]


def _shipped_files(directory: Path, prefix: str) -> set[str]:
    return {
        f"{prefix}/{p.relative_to(directory).as_posix()}"
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_the_wheel_carries_the_package_and_the_policy_pack(installed: Installed) -> None:
    """Every file of orchestrator/ and policies/ (as orchestrator/_policies/) is in the wheel; the launcher keeps its exec bit."""
    wheel = zipfile.ZipFile(next(installed.dist.glob("trainctl-*.whl")))
    names = set(wheel.namelist())
    expected = _shipped_files(REPO / "orchestrator", "orchestrator") | _shipped_files(REPO / "policies", "orchestrator/_policies")
    assert sorted(expected - names) == []
    launcher = wheel.getinfo("orchestrator/_policies/trainctl-policy-pack")
    assert (launcher.external_attr >> 16) & 0o111
    assert list(installed.dist.glob("trainctl-*.tar.gz")), "the sdist was built too"


def test_installed_trainctl_runs_from_the_venv_not_the_checkout(user: User, installed: Installed) -> None:
    """From a temporary directory, the venv's python imports orchestrator and finds the policy pack inside the venv."""
    probe = (
        "import orchestrator; from orchestrator.policy.pack import pack_path; print(orchestrator.__file__); print(pack_path())"
    )
    result = user.run_program(str(installed.bin / "python"), "-c", probe)
    assert result.returncode == 0, result.stderr
    module, launcher = (Path(line) for line in result.stdout.split())
    assert module.is_relative_to(installed.venv) and launcher.is_relative_to(installed.venv)
    assert os.access(launcher, os.X_OK)


def test_doctor_passes_with_the_installed_policy_pack(user: User, installed: Installed) -> None:
    """`trainctl doctor` exits 0 and reports the policy pack launcher inside the venv."""
    result = user.run("doctor", "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["policy-pack"]["ok"] and checks["policy-pack"]["detail"].startswith(str(installed.venv))


def test_validate_check_and_offline_plan_of_the_aws_example(user: User) -> None:
    """validate, check (the pack's policies) and plan --offline of the AWS example all exit 0, with the plan's price."""
    shutil.copytree(EXAMPLES / "aws", user.cwd / "aws")
    shutil.copytree(EXAMPLES / "quickstart", user.cwd / "quickstart", ignore=shutil.ignore_patterns("checkpoints"))
    spec = "aws/job.yaml"
    for args in (("validate", spec), ("check", spec)):
        result = user.run(*args)
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        assert result.stdout.startswith("ok: ")
    plan = user.run("plan", spec, "--offline", "--output", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "g5.xlarge" in plan.stdout


def test_up_of_a_copy_of_the_quickstart_runs_it_to_success(user: User) -> None:
    """`trainctl up` of the quickstart (real engine, the installed pack as analyzer) runs the job to succeeded."""
    shutil.copytree(EXAMPLES / "quickstart", user.cwd / "quickstart", ignore=shutil.ignore_patterns("checkpoints"))
    result = user.run("up", "quickstart/job.yaml", "--yes", "--output", "json", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["state"] == "succeeded"


def test_init_then_validate_with_the_installed_templates(user: User) -> None:
    """`trainctl init --target aws` then `validate` work from the installed package (templates and schema ship)."""
    assert user.run("init", "job", "--target", "aws").returncode == 0
    result = user.run("validate", "job/job.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (user.cwd / "job" / "train.py").is_file() and (user.cwd / "job" / ".trainctl-schema.json").is_file()
