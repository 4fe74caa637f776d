"""Multi-node agents: the rendezvous contract, one fate (restart together, fail together, stop on a lost node)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from orchestrator.agent.config import AgentConfig
from orchestrator.agent.environment import node_contract
from orchestrator.agent.layout import GROUP_KEY, node_output_key, node_status_key
from orchestrator.testing.harness import wait_until

ADDRS = ["127.0.0.1", "127.0.0.1"]


def _configs(tmp_path: Path, run: str, n: int = 2, **overrides: object) -> list[AgentConfig]:
    """One config per node, as a target writes them: own workdir, shared store, rank 0 with the finalize hook."""
    base = AgentConfig(
        job_id="group-abc123",
        workdir="",
        run=run,
        store_url=f"file://{tmp_path / 'store'}",
        env={"SHARED": str(tmp_path / "shared")},
        heartbeat_s=0.2,
        grace_period_s=3.0,
        num_nodes=n,
        node_addrs=["127.0.0.1"] * n,
        master_port=29999,
        launch_id="launch-1",
        node_timeout_s=2.0,
        node_start_timeout_s=30.0,
        **overrides,  # type: ignore[arg-type]
    )
    (tmp_path / "shared").mkdir(exist_ok=True)
    configs = []
    for rank in range(n):
        workdir = tmp_path / f"node-{rank}"
        workdir.mkdir()
        finalize = [sys.executable, "-c", f"open({str(tmp_path / 'finalized')!r}, 'a').write('x')"] if rank == 0 else None
        configs.append(replace(base, workdir=str(workdir), node_rank=rank, finalize_command=finalize))
    return configs


def _start(tmp_path: Path, configs: list[AgentConfig]) -> list[subprocess.Popen[bytes]]:
    """Start every node's agent, each in its own session, as the local target does."""
    agents = []
    for config in configs:
        path = tmp_path / f"agent-{config.node_rank}.json"
        path.write_text(json.dumps(asdict(config)))
        agents.append(
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator.agent", str(path)],
                cwd=config.workdir,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return agents


def _finish(agents: list[subprocess.Popen[bytes]]) -> list[int]:
    try:
        return [agent.wait(timeout=90) for agent in agents]
    finally:
        for agent in agents:
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGKILL)


def _status(tmp_path: Path, rank: int) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((tmp_path / "store" / node_status_key(rank)).read_text())
    return loaded


def test_node_contract_names_every_node_in_rank_order() -> None:
    """A 3-node job's rank 2 gets torchrun's variables and trainctl's, addresses comma-separated in rank order."""
    config = AgentConfig(
        job_id="j", workdir="/w", run="true", store_url="/s", num_nodes=3, node_rank=2,
        node_addrs=["10.0.0.5", "10.0.0.6", "10.0.0.7"], master_port=29400,
    )  # fmt: skip
    assert node_contract(config) == {
        "NNODES": "3",
        "NODE_RANK": "2",
        "MASTER_ADDR": "10.0.0.5",
        "MASTER_PORT": "29400",
        "TRAINCTL_NUM_NODES": "3",
        "TRAINCTL_NODE_RANK": "2",
        "TRAINCTL_NODE_ADDRS": "10.0.0.5,10.0.0.6,10.0.0.7",
    }


def test_one_node_jobs_get_no_rendezvous_variables() -> None:
    """A one-node job's run gets none of the multi-node variables."""
    assert node_contract(AgentConfig(job_id="j", workdir="/w", run="true", store_url="/s")) == {}


def test_a_multi_node_config_without_every_address_is_refused() -> None:
    """Two nodes but one address (or no port): the agent refuses, naming what is missing."""
    config = AgentConfig(job_id="j", workdir="/w", run="true", store_url="/s", num_nodes=2, node_addrs=["10.0.0.5"])
    with pytest.raises(ValueError, match="2 node addresses and a master port"):
        node_contract(config)


def test_two_nodes_run_with_the_contract_and_succeed_together(tmp_path: Path) -> None:
    """Both runs see the rendezvous variables; both nodes succeed; only rank 0 syncs checkpoints and finalizes."""
    run = (
        "env | grep -E '^(NNODES|NODE_RANK|MASTER_ADDR|MASTER_PORT|TRAINCTL_NUM_NODES|TRAINCTL_NODE_RANK|"
        "TRAINCTL_NODE_ADDRS|TRAINCTL_RESUME_FROM)=' | sort > contract.txt; "
        'mkdir -p checkpoints && echo "$TRAINCTL_NODE_RANK" > "checkpoints/from-rank-$TRAINCTL_NODE_RANK"'
    )
    configs = _configs(tmp_path, run)
    assert _finish(_start(tmp_path, configs)) == [0, 0]
    for rank in (0, 1):
        contract = (tmp_path / f"node-{rank}" / "contract.txt").read_text().splitlines()
        assert contract == [
            "MASTER_ADDR=127.0.0.1",
            "MASTER_PORT=29999",
            "NNODES=2",
            f"NODE_RANK={rank}",
            "TRAINCTL_NODE_ADDRS=127.0.0.1,127.0.0.1",
            f"TRAINCTL_NODE_RANK={rank}",
            "TRAINCTL_NUM_NODES=2",
            "TRAINCTL_RESUME_FROM=",
        ]
        status = _status(tmp_path, rank)
        assert (status["state"], status["reason"], status["node_rank"]) == ("succeeded", "exit 0", rank)
    assert sorted(p.name for p in (tmp_path / "store" / "checkpoints").iterdir()) == ["from-rank-0"]
    assert (tmp_path / "store" / node_output_key(1)).exists()
    wait_until(lambda: (tmp_path / "finalized").exists(), timeout=20)
    assert (tmp_path / "finalized").read_text() == "x"  # one teardown request, from rank 0 only


# Each node counts its attempts in $SHARED; rank 1's first attempt fails, rank 0's first attempt would
# run for a minute (it is stopped by the group) unless told otherwise. Every attempt logs its resume point.
COUNTING_RUN = (
    'n=$(cat "$SHARED/count-$NODE_RANK" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$SHARED/count-$NODE_RANK"; '
    'echo "attempt $n resume=$TRAINCTL_RESUME_FROM" >> "$SHARED/log-$NODE_RANK"; '
    "trap 'echo term >> \"$SHARED/term-$NODE_RANK\"; exit 143' TERM; "
    'if [ "$NODE_RANK" = 0 ]; then mkdir -p checkpoints; echo $n > checkpoints/step-$n; '
    "  if [ $n = 1 ]; then sleep 60 & wait; fi; exit 0; fi; "
    "if [ $n = 1 ]; then sleep 1; exit 3; fi; exit 0"
)


def test_a_failed_node_restarts_every_node_from_the_checkpoint(tmp_path: Path) -> None:
    """Rank 1 exits 3: rank 0's run gets SIGTERM, both start attempt 2 resuming from rank 0's checkpoint, both succeed."""
    configs = _configs(tmp_path, COUNTING_RUN, max_failures=1)
    assert _finish(_start(tmp_path, configs)) == [0, 0]
    shared = tmp_path / "shared"
    assert (shared / "count-0").read_text().strip() == "2" and (shared / "count-1").read_text().strip() == "2"
    assert (shared / "term-0").read_text().strip() == "term"  # rank 0's first attempt was stopped, not waited for
    for rank in (0, 1):
        attempts = (shared / f"log-{rank}").read_text().splitlines()
        assert attempts[0] == "attempt 1 resume="
        assert attempts[1].startswith("attempt 2 resume=") and attempts[1].endswith("/checkpoints/step-1")
        status = _status(tmp_path, rank)
        assert (status["state"], status["attempts"]) == ("succeeded", 2)
    assert _status(tmp_path, 0)["failures"] == 1
    assert "node 1: exit 3; restarting every node (restart 1/1)" in (tmp_path / "store" / node_output_key(0)).read_text()


def test_a_failed_node_with_no_restarts_left_fails_every_node(tmp_path: Path) -> None:
    """max_failures 0: rank 1 exits 3, rank 0's run is stopped, both nodes end failed naming node 1."""
    configs = _configs(tmp_path, COUNTING_RUN, max_failures=0)
    codes = _finish(_start(tmp_path, configs))
    assert codes[1] == 3 and codes[0] != 0
    assert (tmp_path / "shared" / "term-0").exists()
    for rank in (0, 1):
        status = _status(tmp_path, rank)
        assert (status["state"], status["reason"]) == ("failed", "node 1: exit 3")
    group = json.loads((tmp_path / "store" / GROUP_KEY).read_text())
    assert (group["action"], group["state"]) == ("stop", "failed")


def test_a_lost_node_stops_the_group_for_a_relaunch(tmp_path: Path) -> None:
    """Node 1's agent is killed (-9): rank 0 sees its heartbeat stop, stops its run, ends 'node-lost', no finalize."""
    run = 'trap \'echo term >> "$SHARED/term-$NODE_RANK"; exit 143\' TERM; touch "$SHARED/up-$NODE_RANK"; sleep 60 & wait'
    configs = _configs(tmp_path, run)
    agents = _start(tmp_path, configs)
    shared = tmp_path / "shared"
    wait_until(lambda: (shared / "up-0").exists() and (shared / "up-1").exists(), timeout=30)
    os.killpg(agents[1].pid, signal.SIGKILL)  # node 1's agent and its run: the node is gone
    codes = _finish(agents)
    assert codes[0] != 0
    assert (shared / "term-0").read_text().strip() == "term"
    status = _status(tmp_path, 0)
    assert (status["state"], status["reason"]) == ("stopped", "node-lost")
    assert "node 1 sent no heartbeat" in (tmp_path / "store" / node_output_key(0)).read_text()
    assert not (tmp_path / "finalized").exists()  # relaunched as a whole, not torn down


def test_a_signal_to_one_node_stops_every_node(tmp_path: Path) -> None:
    """SIGTERM to node 1's agent: its run saves and stops, rank 0 stops too; both end 'stopped'."""
    run = 'trap \'echo term >> "$SHARED/term-$NODE_RANK"; exit 143\' TERM; touch "$SHARED/up-$NODE_RANK"; sleep 60 & wait'
    configs = _configs(tmp_path, run)
    agents = _start(tmp_path, configs)
    shared = tmp_path / "shared"
    wait_until(lambda: (shared / "up-0").exists() and (shared / "up-1").exists(), timeout=30)
    agents[1].send_signal(signal.SIGTERM)
    _finish(agents)
    assert (shared / "term-0").exists() and (shared / "term-1").exists()
    for rank in (0, 1):
        status = _status(tmp_path, rank)
        assert (status["state"], status["reason"]) == ("stopped", "signal")


def test_orders_of_an_earlier_allocation_are_ignored(tmp_path: Path) -> None:
    """A group.json left by an earlier launch ('stop') does not stop a new launch's nodes."""
    store = tmp_path / "store"
    store.mkdir()
    old = {"attempt": 1, "action": "stop", "reason": "node-lost", "state": "stopped", "launch_id": "launch-0"}
    (store / GROUP_KEY).write_text(json.dumps(old))
    configs = _configs(tmp_path, "true")
    assert _finish(_start(tmp_path, configs)) == [0, 0]
    assert _status(tmp_path, 1)["state"] == "succeeded"
