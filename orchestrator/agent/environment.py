"""Which environment variables reach a job's run, and which its helper processes carry.

A run gets a short base taken from the agent's environment (:data:`BASE_NAMES`, ``LC_*``), the
job's identity markers, the names its target lets through, the spec's ``env`` and ``secrets``, and
the contract's ``TRAINCTL_*`` variables (and, on a multi-node job, the rendezvous variables of
:func:`node_contract`); nothing else (no cloud keys of the person who ran `up`).
Helper processes the agent starts (finalize, shutdown) get the agent's environment without the
job's secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.agent.config import AgentConfig

BASE_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "TERM",
    "TZ",
    "USER",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    # where TLS trust comes from, so that the proxies above work for pip, requests and curl
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
BASE_PREFIXES = ("LC_",)
# Set by trainctl on the agent: which job, trainctl home and backend a process belongs to (leak detection).
IDENTITY_NAMES = ("TRAINCTL_JOB_ID", "TRAINCTL_JOB_HOME", "TRAINCTL_JOB_BACKEND")


def base_environment(environ: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """The documented base of ``environ``, plus the identity markers and ``extra_names``."""
    wanted = {*BASE_NAMES, *IDENTITY_NAMES, *extra_names}
    return {k: v for k, v in environ.items() if k in wanted or k.startswith(BASE_PREFIXES)}


def run_environment(
    environ: Mapping[str, str],
    *,
    spec_env: Mapping[str, str],
    secret_names: Iterable[str],
    extra_names: Iterable[str],
    contract: Mapping[str, str],
) -> dict[str, str]:
    """A run's whole environment: the base, the spec's ``env``, its secrets, then the contract."""
    secrets = {name: environ[name] for name in secret_names if name in environ}
    return {**base_environment(environ, extra_names), **spec_env, **secrets, **contract}


def node_contract(config: AgentConfig) -> dict[str, str]:
    """The multi-node part of the run's contract (empty for a one-node job).

    torchrun's names (``NNODES``, ``NODE_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), so that
    ``torchrun --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR
    --master_port=$MASTER_PORT train.py`` works unchanged, and trainctl's own: ``TRAINCTL_NUM_NODES``,
    ``TRAINCTL_NODE_RANK``, ``TRAINCTL_NODE_ADDRS`` (comma-separated, rank order).
    """
    if not config.multi_node:
        return {}
    if len(config.node_addrs) != config.num_nodes or config.master_port is None:
        raise ValueError(
            f"a {config.num_nodes}-node job needs {config.num_nodes} node addresses and a master port "
            f"(got {len(config.node_addrs)} addresses, port {config.master_port})"
        )
    if not 0 <= config.node_rank < config.num_nodes:
        raise ValueError(f"node rank {config.node_rank} is outside 0..{config.num_nodes - 1}")
    nodes, rank = str(config.num_nodes), str(config.node_rank)
    return {
        "NNODES": nodes,
        "NODE_RANK": rank,
        "MASTER_ADDR": config.node_addrs[0],
        "MASTER_PORT": str(config.master_port),
        "TRAINCTL_NUM_NODES": nodes,
        "TRAINCTL_NODE_RANK": rank,
        "TRAINCTL_NODE_ADDRS": ",".join(config.node_addrs),
    }


def without_secrets(environ: Mapping[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """``environ`` minus the job's secrets (for helper processes)."""
    hidden = set(secret_names)
    return {k: v for k, v in environ.items() if k not in hidden}
