"""What runs on the instance: the AMI choice, the agent's config and the user data that starts it.

The user data (a shell script kept as package data, ``bootstrap.sh``, under EC2's 16 KB limit) makes
a `trainctl` user, installs Python 3.11+ with boto3 in a virtualenv, downloads the agent archive and
the code bundle from the job's bucket, reads the job's secrets from SSM Parameter Store into a
root-only environment file, starts the CloudWatch agent on the output log, and starts the agent as a
systemd service: ``python3 -m orchestrator.agent /opt/trainctl/agent.json``. Whatever way the agent
ends, the unit uploads the output log to S3 and shuts the instance down (instance-initiated shutdown
terminates it); a failing bootstrap uploads its own log and shuts down too, so no instance idles on a
broken setup.

Every node of a multi-node job boots the same script. Its rank, the node count, every node's private
address (rank 0's is ``MASTER_ADDR``) and the rendezvous port come from the object the launch writes
to the bucket under the instance's id (``instance.py``); the script waits for it (at most 10 minutes)
and merges it into the agent's configuration. Node K > 0 uploads its output under its own key
(``orchestrator/agent/layout.py``) and streams it to CloudWatch as ``node<K>-output-<instance>``
(``names.node_stream_prefix``).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict

from orchestrator.agent.config import AgentConfig
from orchestrator.compile import CompiledJob
from orchestrator.targets.aws import names

AMI_PARAMETERS = {
    ("gpu", "x86_64"): "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id",
    ("gpu", "arm64"): "/aws/service/deeplearning/ami/arm64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id",
    ("cpu", "x86_64"): "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    ("cpu", "arm64"): "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
}
ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023 and its deep learning AMIs
USER_DATA_LIMIT = 16384
TEMPLATE_FILE = "bootstrap.sh"  # beside this module; @NAME@ placeholders are filled in by user_data
SHUTDOWN_COMMAND = ["sudo", "/usr/sbin/shutdown", "-h", "now"]
# The agent of a traced job sends its spans itself (orchestrator/agent/telemetry.py).
TRACING_PACKAGES = ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
_FAMILY = re.compile(r"^(?P<series>[a-z]+)(?P<generation>\d+)(?P<options>[a-z-]*)\.")


def is_gpu(instance_type: str) -> bool:
    """NVIDIA GPU families: p* and g* (g4ad is AMD, g5g is Arm with NVIDIA T4G)."""
    match = _FAMILY.match(instance_type)
    if match is None:
        return False
    return match["series"] in ("p", "g", "gr") and "ad" not in match["options"]


def architecture(instance_type: str) -> str:
    """``arm64`` for Graviton families (a 'g' among the options: c7g, m6gd, g5g, t4g), else ``x86_64``."""
    match = _FAMILY.match(instance_type)
    if match and ("g" in match["options"] or match["series"] == "a"):
        return "arm64"
    return "x86_64"


def image_id(instance_type: str, override: str | None) -> str:
    """The launch template's image: the override, or a public SSM parameter EC2 resolves at launch."""
    if override:
        return override
    kind = "gpu" if is_gpu(instance_type) else "cpu"
    return f"resolve:ssm:{AMI_PARAMETERS[(kind, architecture(instance_type))]}"


def agent_config(job: CompiledJob) -> AgentConfig:
    """The agent's instructions on the instance (no secrets: those come from SSM at boot)."""
    return job.agent_config(
        workdir=names.REMOTE_WORKDIR,
        store_url=f"s3://{names.bucket_name(job.job_id)}",
        spot_notice_url=names.IMDS_SPOT_ACTION if job.spec.resources.spot else None,
        shutdown_command=list(SHUTDOWN_COMMAND),
        pass_env=["AWS_REGION", "AWS_DEFAULT_REGION"],  # the instance's region, set by its unit
    )


def agent_packages(job: CompiledJob) -> list[str]:
    """What pip installs for the agent: boto3, and the OpenTelemetry SDK when the job is traced."""
    return ["boto3", *(TRACING_PACKAGES if job.trace else ())]


def user_data(job: CompiledJob, *, code_key: str, agent_key: str) -> str:
    """The instance's boot script (plain text; the launch template carries it base64-encoded)."""
    assert job.region is not None
    config = json.dumps(asdict(agent_config(job)), indent=1, sort_keys=True)
    values = {
        "JOB_ID": job.job_id,
        "REGION": job.region,
        "BUCKET": names.bucket_name(job.job_id),
        "CODE_KEY": code_key,
        "AGENT_KEY": agent_key,
        "LOG_GROUP": names.log_group_name(job.job_id),
        "ROOT": names.REMOTE_ROOT,
        "WORKDIR": names.REMOTE_WORKDIR,
        "AGENT_DIR": names.REMOTE_AGENT_DIR,
        "CONFIG": names.REMOTE_CONFIG,
        "CONFIG_B64": base64.b64encode(config.encode()).decode(),
        "SECRETS": " ".join(names.secret_parameter(job.job_id, s) for s in job.spec.secrets),
        "OUTPUT_KEY": names.OUTPUT_LOG_KEY,
        "BOOTSTRAP_KEY": names.BOOTSTRAP_LOG_KEY,
        "OUTPUT_STREAM": names.OUTPUT_STREAM_PREFIX,
        "AGENT_STREAM": names.AGENT_STREAM_PREFIX,
        "STOP_TIMEOUT": str(int(job.grace_period_s) + 60),
        "NUM_NODES": str(job.spec.resources.nodes),
        "NODE_PREFIX": names.NODE_CONFIG_PREFIX,
        "AGENT_PACKAGES": " ".join(agent_packages(job)),
        "NODE_STREAM": names.NODE_OUTPUT_STREAM,
    }
    script = _template()
    for key, value in values.items():
        script = script.replace("@" + key + "@", value)
    return script


def _template() -> str:
    """The boot script with ``@NAME@`` placeholders (package data: orchestrator/targets/aws/bootstrap.sh)."""
    from importlib import resources

    return resources.files("orchestrator.targets.aws").joinpath(TEMPLATE_FILE).read_text(encoding="utf-8")


def encoded_user_data(job: CompiledJob, *, code_key: str, agent_key: str) -> str:
    """``user_data`` base64-encoded, as launch templates take it."""
    return base64.b64encode(user_data(job, code_key=code_key, agent_key=agent_key).encode()).decode()
