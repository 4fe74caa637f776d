"""docs/grafana-dashboard.json: valid JSON, a Grafana dashboard whose queries use only metrics trainctl exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from orchestrator.metrics import journal

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def dashboard() -> dict[str, Any]:
    """The dashboard document."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries() -> list[str]:
    """The PromQL of every panel target."""
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def queries() -> list[str]:
    """Every query of the dashboard: panel targets and template variable queries (Grafana's label_values)."""
    return panel_queries() + [v["definition"] for v in dashboard()["templating"]["list"] if v["type"] == "query"]


def exported_name(name: str) -> bool:
    """Whether ``name`` is a series trainctl exports (a histogram's _bucket/_count/_sum included)."""
    if name in journal.METRICS:
        return True
    base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
    return base is not None and journal.METRICS.get(base, None) is not None and journal.METRICS[base].kind == "histogram"


def test_the_dashboard_queries_only_metrics_that_exist() -> None:
    """Every trainctl_* name in a query is a metric of the contract (or a histogram's series)."""
    used = {name for expr in queries() for name in re.findall(r"\btrainctl_[a-z0-9_]+", expr)}
    assert used, "the dashboard queries no trainctl metric"
    assert sorted(n for n in used if not exported_name(n)) == []
    covered = {next((n.removesuffix(s) for s in HISTOGRAM_SUFFIXES if n.endswith(s)), n) for n in used}
    assert covered == set(journal.METRICS), f"metrics without a panel: {sorted(set(journal.METRICS) - covered)}"


def test_the_dashboard_is_importable_grafana_json() -> None:
    """Panels have unique ids, a type, a Prometheus data source variable and targets; every $variable is defined."""
    doc = dashboard()
    assert doc["title"] and doc["uid"] and isinstance(doc["schemaVersion"], int)
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in doc["templating"]["list"]}
    builtin = {"__rate_interval", "__interval", "__range"}
    for panel in doc["panels"]:
        assert panel["type"] and panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            for variable in re.findall(r"\$(\w+)", target["expr"]):
                assert variable in variables | builtin, (panel["title"], variable)
