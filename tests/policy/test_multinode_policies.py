"""A multi-node job is judged as its whole group: the cost caps count every node; max-nodes caps how many."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cost.catalog import load_catalog
from tests.conftest import write_job
from tests.policy.conftest import findings, local_manifest, manifest


def _on_demand(instance_type: str) -> float:
    return load_catalog().hourly("us-east-1", instance_type, spot=False).usd


def test_hourly_cap_counts_every_node() -> None:
    """One g5.12xlarge passes the 40 USD/hour cap; eight of them break it, and the message names the group's price."""
    one = manifest(instance_type="g5.12xlarge", spot=False)
    eight = manifest(instance_type="g5.12xlarge", spot=False, nodes=8)
    assert findings("max-hourly-cost", one) == []
    [finding] = findings("max-hourly-cost", eight)
    assert f"{8 * _on_demand('g5.12xlarge'):.2f} USD/hour" in finding.message
    assert "8 nodes of g5.12xlarge on-demand" in finding.message


def test_job_cost_cap_counts_every_node_and_disk() -> None:
    """A 24 h g5.xlarge job is far under 500 USD alone; 24 nodes of it are above it (instances plus 24 disks)."""
    day = {"spot": False, "max_runtime_s": 86400, "max_cost_usd": None}
    assert findings("max-job-cost", manifest(**day)) == []
    [finding] = findings("max-job-cost", manifest(**day, nodes=24))
    assert "24 nodes of g5.xlarge" in finding.message
    assert f"{24 * _on_demand('g5.xlarge'):.2f} USD/hour" in finding.message


def test_local_nodes_share_the_machine_price() -> None:
    """The nodes of a local job run on this machine: judged at its one price, not N times it."""
    assert findings("max-hourly-cost", local_manifest(hourly_usd=30.0, nodes=4)) == []


def test_max_nodes_default_is_16() -> None:
    """16 nodes pass the shipped max-nodes cap; 17 are refused, naming the count, the cap and the fix."""
    assert findings("max-nodes", manifest(nodes=16)) == []
    assert findings("max-nodes", manifest()) == []  # a manifest written before nodes: one node
    [finding] = findings("max-nodes", manifest(nodes=17))
    assert "17 nodes" in finding.message and "cap of 16" in finding.message and "team vision" in finding.message
    assert "resources.nodes" in finding.fix


def test_max_nodes_is_set_per_team() -> None:
    """A team's maxNodes replaces the default for that team only."""
    from orchestrator.policy.config import load_config, merge
    from orchestrator.policy.pack import load_policies

    config = merge(load_config(), {"teams": {"llm": {"max-nodes": {"maxNodes": 64}}}}, load_policies(), origin="test")
    big = manifest(nodes=32)
    assert findings("max-nodes", big, config, team="llm") == []
    assert findings("max-nodes", big, config, team="vision")
    assert findings("max-nodes", local_manifest(nodes=4), config, team="vision") == []


@pytest.mark.engine
def test_the_engine_refuses_a_group_above_max_nodes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real engine runs max-nodes from the pack: `plan` (engine preview) of a 3-node local job under a team cap of
    2 exits 3 naming the policy; 2 nodes pass."""
    config = tmp_path / "policy.yaml"
    config.write_text("max-nodes: {maxNodes: 2}\n")
    blocked = cli("plan", str(write_job(tmp_path / "three", extra="resources:\n  nodes: 3\n")), "--policy-config", str(config))
    assert blocked.exit_code == 3, blocked.stderr
    assert "max-nodes [mandatory]" in blocked.stdout and "3 nodes" in blocked.stdout
    passed = cli("plan", str(write_job(tmp_path / "two", extra="resources:\n  nodes: 2\n")), "--policy-config", str(config))
    assert passed.exit_code == 0, passed.stderr
