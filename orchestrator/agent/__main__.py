"""``python -m orchestrator.agent CONFIG``: supervise one run; then run the finalize hook if any."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.environment import without_secrets
from orchestrator.agent.group import RELAUNCH_REASONS
from orchestrator.agent.node_supervisor import NodeSupervisor
from orchestrator.agent.store import open_store
from orchestrator.agent.supervisor import Supervisor
from orchestrator.agent.telemetry import agent_trace, log_event
from orchestrator.home import restrict_umask


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m orchestrator.agent CONFIG.json", file=sys.stderr)
        return 2
    restrict_umask()  # checkpoints, logs and status stay private to the user, whoever started the agent
    config = AgentConfig.from_file(Path(argv[0]))
    if os.environ.get("TRAINCTL_JOB_HOME"):  # a local agent: its metrics join its trainctl home's journal
        from orchestrator.metrics import journal

        journal.activate(Path(os.environ["TRAINCTL_JOB_HOME"]))
    interruption = None
    if config.spot_notice_url:
        from orchestrator.agent.imds import SpotNotice

        interruption = SpotNotice(config.spot_notice_url)
        if config.on_demand_hourly_usd is not None:
            config = config.for_market(interruption.market())
    # A node of a multi-node job runs in step with the others (one job, one fate).
    kind = NodeSupervisor if config.multi_node else Supervisor
    supervisor = kind(config, open_store(config.store_url), interruption=interruption)
    with agent_trace(config):
        log_event(config.job_id, "agent.started", node_rank=config.node_rank, pid=os.getpid())
        code = supervisor.run()
    # Hooks outlive the agent (own session) and do not carry the job id: they are not the job's processes.
    # Nor do they carry the job's secrets: they tear the job down, they do not run it.
    env = without_secrets(os.environ, [*config.secret_names, "TRAINCTL_JOB_ID"])
    # After a preemption or a lost node the job is relaunched (by `up`, or `up` again), not torn down: no finalize.
    finalize = None if supervisor.stop_reason in RELAUNCH_REASONS else config.finalize_command
    for hook in (finalize, config.shutdown_command):
        if hook:
            subprocess.Popen(hook, start_new_session=True, stdin=subprocess.DEVNULL, env=env)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
