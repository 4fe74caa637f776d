"""The Pushgateway push: at exit, a command pushes the metrics of its own run (``TRAINCTL_PUSHGATEWAY_URL``).

For ephemeral CI runners that no Prometheus scrapes. The push carries the counters and histograms
this process recorded (not the whole journal: the gateway would count them again at every push) and
``trainctl_build_info``, grouped by job id and command: ``job="trainctl"``, ``job_id`` (``none`` for a
command about no job) and ``command``. A gateway that is down, slow or a URL that is not one costs at
most ``PUSH_TIMEOUT_S`` (plus a second) and one warning; it never fails the command.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import Metric

from orchestrator.metrics import journal
from orchestrator.metrics.exporter import build_info, journal_families

PUSH_TIMEOUT_S = 2.0
GATEWAY_JOB = "trainctl"


class _RunCollector:
    def collect(self) -> Iterator[Metric]:
        yield from journal_families(journal.run_totals())
        yield build_info()


def push_run(url: str, command: str, job_id: str | None = None) -> str | None:
    """Push this process's metrics to the gateway at ``url``; a warning to show when that failed, else None."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunCollector())
    grouping = {"job_id": job_id or journal.run_job_id() or _bound_job_id() or "none", "command": command or "none"}
    failure: list[str] = []

    def push() -> None:
        try:
            push_to_gateway(url, job=GATEWAY_JOB, registry=registry, grouping_key=grouping, timeout=PUSH_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - any failure of the gateway or the URL is a warning, never the command's failure
            failure.append(f"{type(e).__name__}: {e}")

    worker = threading.Thread(target=push, name="pushgateway", daemon=True)
    worker.start()
    worker.join(PUSH_TIMEOUT_S + 1.0)
    shown = redacted(url)
    if worker.is_alive():
        return f"metrics not pushed to the Pushgateway at {shown}: no answer within {PUSH_TIMEOUT_S + 1.0:.0f}s"
    if failure:
        return f"metrics not pushed to the Pushgateway at {shown}: {failure[0].replace(url, shown)}"
    return None


def redacted(url: str) -> str:
    """``url`` without the password of its user part (``https://user:***@host``), fit for a warning."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
    except ValueError:
        return "(an unparsable URL)"


def _bound_job_id() -> str | None:
    """The job id bound to this command's log context, if logging was used."""
    if "structlog" not in sys.modules:
        return None
    import structlog

    value = structlog.contextvars.get_contextvars().get("job_id")
    return str(value) if value else None
