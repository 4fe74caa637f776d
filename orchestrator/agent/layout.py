"""Where a job's agents keep things in its store: status, output and outputs, per node.

Node rank 0 writes the job's own keys (``status.json``, ``logs/output.log``); node K of a multi-node
job writes ``nodes/K/status.json`` and ``nodes/K/output.log``. Rank 0's agent also writes the
group's decisions (``group.json``: see orchestrator/agent/group.py).
"""

from __future__ import annotations

STATUS_KEY = "status.json"
OUTPUT_KEY = "logs/output.log"
OUTPUTS_PREFIX = "outputs"
GROUP_KEY = "group.json"


def node_status_key(rank: int) -> str:
    """The status key of node ``rank`` (rank 0's is the job's)."""
    return STATUS_KEY if rank == 0 else f"nodes/{rank}/status.json"


def node_output_key(rank: int) -> str:
    """The output log key of node ``rank`` (rank 0's is the job's)."""
    return OUTPUT_KEY if rank == 0 else f"nodes/{rank}/output.log"
