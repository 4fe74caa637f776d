"""What reaches the instance: AMI choice, the agent archive (standalone), the code bundle, the boot script."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import bootstrap
from orchestrator.targets.aws.bundles import agent_bundle, code_bundle
from orchestrator.workdir import select_workdir


@pytest.mark.parametrize(
    ("instance_type", "gpu", "arch"),
    [
        ("g5.xlarge", True, "x86_64"),
        ("p4d.24xlarge", True, "x86_64"),
        ("g6e.2xlarge", True, "x86_64"),
        ("g5g.xlarge", True, "arm64"),
        ("g4ad.xlarge", False, "x86_64"),
        ("t3.micro", False, "x86_64"),
        ("c7g.large", False, "arm64"),
        ("m6gd.large", False, "arm64"),
        ("m7i-flex.large", False, "x86_64"),
    ],
)
def test_instance_families_map_to_gpu_and_architecture(instance_type: str, gpu: bool, arch: str) -> None:
    """NVIDIA families get the deep learning AMI; Graviton families the arm64 image."""
    assert bootstrap.is_gpu(instance_type) is gpu
    assert bootstrap.architecture(instance_type) == arch
    image = bootstrap.image_id(instance_type, None)
    assert image.startswith("resolve:ssm:/aws/service/")
    assert ("deeplearning" in image) is gpu and arch in image


def test_agent_archive_runs_on_a_bare_python(tmp_path: Path) -> None:
    """The agent archive holds the agent, its S3 store and IMDS check, and imports with no site-packages."""
    bundle = agent_bundle(tmp_path, write=True)
    assert bundle.key == f"agent/{bundle.digest}.tar.gz" and bundle.path.is_file()
    with tarfile.open(bundle.path) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert {
        "orchestrator/agent/__main__.py",
        "orchestrator/agent/supervisor.py",
        "orchestrator/agent/s3store.py",
        "orchestrator/agent/imds.py",
        "orchestrator/cloud/aws.py",
        "orchestrator/errors.py",
    } <= names
    probe = "import orchestrator.agent.__main__, orchestrator.agent.s3store, orchestrator.agent.imds; print('ok')"
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=tmp_path / "unpacked", capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert agent_bundle(tmp_path, write=False) == bundle


def test_code_bundle_is_content_addressed_and_repeatable(tmp_path: Path) -> None:
    """Same files give the same key and bytes; a changed file gives a new key."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print(1)\n")
    (source / ".gitignore").write_text("data/\n")
    (source / "data").mkdir()
    (source / "data" / "big.bin").write_bytes(b"x" * 100)
    first = code_bundle(select_workdir(source), tmp_path / "a", write=True)
    second = code_bundle(select_workdir(source), tmp_path / "b", write=True)
    assert first.key == second.key == f"code/{first.digest}.tar.gz"
    assert first.path.read_bytes() == second.path.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(first.path.read_bytes())) as tar:
        assert sorted(tar.getnames()) == [".gitignore", "train.py"]
    (source / "train.py").write_text("print(2)\n")
    assert code_bundle(select_workdir(source), tmp_path / "c", write=False).key != first.key


def test_boot_script_is_valid_shell_and_fits_user_data(make_job: Callable[..., CompiledJob]) -> None:
    """The rendered script parses with `bash -n`, has no unfilled placeholders and stays under 16 KB."""
    job = make_job(spot=True, secrets=("WANDB_API_KEY",))
    script = bootstrap.user_data(job, code_key="code/abc.tar.gz", agent_key="agent/def.tar.gz")
    assert re.findall(r"@[A-Z_0-9]+@", script) == []
    assert len(script.encode()) < bootstrap.USER_DATA_LIMIT
    check = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert check.returncode == 0, check.stderr
    assert "ExecStopPost=+/usr/sbin/shutdown -h now" in script
    assert "/trainctl/vision-run-a1b2c3/WANDB_API_KEY" in script


def test_docs_show_the_deploying_policy_trainctl_needs() -> None:
    """docs/aws.md's deploying-identity policy is exactly what iam.deployer_policy() says."""
    import json

    from orchestrator.targets.aws.iam import deployer_policy
    from tests.conftest import REPO

    text = (REPO / "docs" / "aws.md").read_text()
    block = text.split("### The deploying identity's policy", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    assert json.loads(block) == deployer_policy()


def test_traced_job_boots_an_agent_that_joins_the_trace(make_job: Callable[..., CompiledJob]) -> None:
    """A traced job's instance installs the OpenTelemetry SDK; its agent config carries the parent span and the endpoint."""
    import base64
    import json
    from dataclasses import replace

    trace = {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01", "endpoint": "http://collector:4318/v1/traces", "team": "t"}
    untraced = bootstrap.user_data(make_job(), code_key="code/a.tar.gz", agent_key="agent/b.tar.gz")
    traced = bootstrap.user_data(replace(make_job(), trace=trace), code_key="code/a.tar.gz", agent_key="agent/b.tar.gz")
    assert "--disable-pip-version-check boto3\n" in untraced
    assert "--disable-pip-version-check boto3 opentelemetry-sdk opentelemetry-exporter-otlp-proto-http\n" in traced
    encoded = re.search(r"echo '([A-Za-z0-9+/=]+)' \| base64 -d", traced)
    assert encoded is not None
    assert json.loads(base64.b64decode(encoded.group(1)))["trace"] == trace
