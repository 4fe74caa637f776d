"""Names and keys of a job's AWS resources: derived from the job id alone, so every part of trainctl
(the program, the monitor, purge, leak detection) finds them without asking Pulumi state."""

from __future__ import annotations

PREFIX = "trainctl"
CODE_PREFIX = "code"
AGENT_PREFIX = "agent"
OUTPUT_STREAM_PREFIX = "output-"
NODE_OUTPUT_STREAM = "node{rank}-" + OUTPUT_STREAM_PREFIX  # node rank > 0 of a multi-node job (str.format)
AGENT_STREAM_PREFIX = "agent-"
OUTPUT_LOG_KEY = "logs/output.log"


def node_stream_prefix(rank: int) -> str:
    """The CloudWatch stream prefix of node ``rank``'s output (rank 0's is the job's; bootstrap.sh names node K's)."""
    return OUTPUT_STREAM_PREFIX if rank == 0 else NODE_OUTPUT_STREAM.format(rank=rank)


BOOTSTRAP_LOG_KEY = "logs/bootstrap.log"
LOG_RETENTION_DAYS = 30
NONCURRENT_VERSION_DAYS = 7
REMOTE_ROOT = "/opt/trainctl"
REMOTE_WORKDIR = f"{REMOTE_ROOT}/work"
REMOTE_AGENT_DIR = f"{REMOTE_ROOT}/agent"
REMOTE_CONFIG = f"{REMOTE_ROOT}/agent.json"
IMDS_SPOT_ACTION = "http://169.254.169.254/latest/meta-data/spot/instance-action"
SPOT_INTERRUPTION_CODE = "Server.SpotInstanceTermination"
NODE_CONFIG_PREFIX = "launch/"  # a multi-node job's per-node agent configuration, by instance id
MASTER_PORT = 29500  # a multi-node job's rendezvous port on node rank 0 (torchrun's default)


def bucket_name(job_id: str) -> str:
    """The job's artifact bucket (at most 56 characters: job ids are at most 47)."""
    return f"{PREFIX}-{job_id}"


def log_group_name(job_id: str) -> str:
    """The job's CloudWatch log group."""
    return f"/{PREFIX}/jobs/{job_id}"


def resource_name(job_id: str) -> str:
    """The name of the job's role, instance profile, security group and launch template."""
    return f"{PREFIX}-{job_id}"


def secret_parameter(job_id: str, secret: str) -> str:
    """The SSM SecureString parameter that holds one of the job's secrets."""
    return f"/{PREFIX}/{job_id}/{secret}"


def node_config_key(instance_id: str) -> str:
    """Where a node of a multi-node job finds its rank and the group's addresses (its boot script reads it)."""
    return f"{NODE_CONFIG_PREFIX}{instance_id}.json"


def code_key(digest: str) -> str:
    """Content-addressed key of a code bundle."""
    return f"{CODE_PREFIX}/{digest}.tar.gz"


def agent_key(digest: str) -> str:
    """Content-addressed key of an agent archive."""
    return f"{AGENT_PREFIX}/{digest}.tar.gz"
