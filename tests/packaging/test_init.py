"""`trainctl init`: a job directory that validates as is, written once (exit 2 before overwriting)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import ExitCode


@pytest.mark.parametrize("target", ["local", "aws"])
def test_init_writes_a_spec_that_validates_as_is(cli, tmp_path: Path, target: str) -> None:  # type: ignore[no-untyped-def]
    """init DIR --target T, then validate DIR/job.yaml: exit 0, job of target T named after the directory."""
    directory = tmp_path / "My Project_1"
    result = cli("init", str(directory), "--target", target)
    assert result.exit_code == 0, result.stderr
    checked = cli("validate", str(directory / "job.yaml"), "--output", "json")
    assert checked.exit_code == 0, checked.stderr
    document = json.loads(checked.stdout)
    assert (document["name"], document["target"]) == ("my-project-1", target)
    assert (directory / "train.py").is_file()


def test_init_writes_the_schema_comment_editors_read(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """job.yaml starts with the yaml-language-server $schema line naming the schema file written beside it."""
    assert cli("init", str(tmp_path)).exit_code == 0
    first = (tmp_path / "job.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./.trainctl-schema.json"
    assert json.loads((tmp_path / ".trainctl-schema.json").read_text())["title"] == "JobSpec"


@pytest.mark.parametrize("target", ["local", "aws"])
def test_written_spec_validates_against_the_written_schema(cli, tmp_path: Path, target: str) -> None:  # type: ignore[no-untyped-def]
    """What an editor checks: job.yaml is valid under .trainctl-schema.json (jsonschema), and a typo is not."""
    jsonschema = pytest.importorskip("jsonschema")
    assert cli("init", str(tmp_path), "--target", target).exit_code == 0
    schema = json.loads((tmp_path / ".trainctl-schema.json").read_text())
    document = yaml.safe_load((tmp_path / "job.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(document)) == []
    assert list(validator.iter_errors({**document, "tarrget": "aws"})) != []


@pytest.mark.parametrize(("directory", "name"), [("2024 Runs!", "runs"), ("x", "my-job"), ("a" * 50, "a" * 40)])
def test_init_names_the_job_validly_after_any_directory(cli, tmp_path: Path, directory: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """A directory name that is no valid job name still gives a spec that validates (letter first, 3..40 characters)."""
    assert cli("init", str(tmp_path / directory)).exit_code == 0
    checked = cli("validate", str(tmp_path / directory / "job.yaml"), "--output", "json")
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["name"] == name


def test_init_refuses_to_overwrite_a_spec_without_force(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A second init exits 2 naming job.yaml and leaves it as it was; --force replaces it."""
    spec = tmp_path / "job.yaml"
    spec.write_text("name: mine\n")
    result = cli("init", str(tmp_path))
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert str(spec) in result.stderr and "--force" in result.stderr
    assert spec.read_text() == "name: mine\n" and not (tmp_path / "train.py").exists()
    assert cli("init", str(tmp_path), "--force").exit_code == 0
    assert spec.read_text().startswith("# yaml-language-server")


def test_init_keeps_an_existing_train_py(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A directory that has a train.py keeps it; init says so."""
    script = tmp_path / "train.py"
    script.write_text("print('mine')\n")
    result = cli("init", str(tmp_path))
    assert result.exit_code == 0
    assert script.read_text() == "print('mine')\n"
    assert f"kept {script}" in result.stdout


def test_the_generated_train_py_follows_the_contract(tmp_path: Path) -> None:
    """train.py writes checkpoints to TRAINCTL_CHECKPOINT_DIR, resumes from TRAINCTL_RESUME_FROM, exits 143 on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    from orchestrator.scaffold import init_job_dir

    init_job_dir(tmp_path)
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, "TRAINCTL_CHECKPOINT_DIR": str(ckpt), "TRAINCTL_RESUME_FROM": ""}
    first = subprocess.run([sys.executable, "train.py", "--epochs", "2"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    newest = sorted(ckpt.iterdir())[-1]
    env["TRAINCTL_RESUME_FROM"] = str(newest)
    resumed = subprocess.run([sys.executable, "train.py", "--epochs", "3"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert f"resumed from {newest} at epoch 2" in resumed.stdout and "epoch 3/3" in resumed.stdout
    env["TRAINCTL_RESUME_FROM"] = ""
    proc = subprocess.Popen(
        [sys.executable, "train.py", "--epochs", "100000"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("epoch 1/")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "SIGTERM: checkpoint" in out


def test_an_initialised_local_job_runs_to_success(tc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """init, then `up` of what it wrote (real engine): the generated train.py runs and leaves its checkpoints."""
    assert tc.run("init", str(tmp_path / "first-job")).returncode == 0
    result = tc.run("up", str(tmp_path / "first-job" / "job.yaml"), "--yes", "--output", "json", timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["state"] == "succeeded"
    checkpoints = tc.home / "artifacts" / record["job_id"] / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir())[-1] == "step-000005.json"
