"""Real Prometheus, a real Pushgateway and `trainctl metrics serve`, each on a free 127.0.0.1 port.

The binaries come from the Debian packages ``prometheus`` and ``prometheus-pushgateway``
(``tests/deps/prometheus.sh`` installs them); a missing one fails the test saying so. Every server
listens on loopback only, keeps its data in a temporary directory, and is stopped by ``stop``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from orchestrator.testing.harness import trainctl_cmd, wait_until

INSTALLER = "tests/deps/prometheus.sh"
SCRAPE_BLOCK = re.compile(r"<!-- scrape-config: begin -->\s*```yaml\n(.*?)```\s*<!-- scrape-config: end -->", re.S)


def binary(name: str) -> str:
    """The path of ``name``; AssertionError naming the installer when it is missing."""
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed: run {INSTALLER} (as root; `make test-deps` does it)")
    return found


def free_port() -> int:
    """A port nothing listens on now (the OS's choice on 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, timeout: float = 10.0) -> bytes:
    """GET ``url`` (a loopback http URL); the body."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http on 127.0.0.1, built by the caller
        body: bytes = answer.read()
        return body


class _Process:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="trainctl-prom-"))
        self.url = ""

    def _start(self, argv: list[str], ready_path: str, env: dict[str, str] | None = None) -> None:
        log = open(self.dir / "server.log", "wb")  # noqa: SIM115 - the server writes to it until stop()
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self._ready(ready_path), timeout=60, interval=0.2)

    def _ready(self, path: str) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.__class__.__name__} exited {self.process.returncode}: {self.log()}")
        try:
            http_get(self.url + path, timeout=2)
        except OSError:
            return False
        return True

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


class MetricsExporter(_Process):
    """`trainctl metrics serve` for one trainctl home."""

    def start(self, env: dict[str, str]) -> MetricsExporter:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._start([*trainctl_cmd(), "metrics", "serve", "--host", "127.0.0.1", "--port", str(port)], "/healthz", env=env)
        return self

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")


class Prometheus(_Process):
    """Prometheus scraping ``targets`` every ``interval`` with the scrape configuration of ``config_text``."""

    def start(self, config_text: str) -> Prometheus:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = self.dir / "prometheus.yml"
        config.write_text(config_text)
        self._start(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            "/-/ready",
        )
        return self

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of ``promql`` (``[{"metric": {...}, "value": [ts, "v"]}, ...]``)."""
        body = http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, promql: str) -> float | None:
        """The single value of ``promql``; None while it has no sample."""
        result = self.query(promql)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def wait_for_scrape(self, job: str, timeout: float = 60) -> None:
        """Until target ``job`` has been scraped successfully."""
        wait_until(lambda: self.value(f'up{{job="{job}"}}') == 1.0, timeout=timeout, interval=0.2)


class Pushgateway(_Process):
    """A Pushgateway persisting into its own temporary directory (Debian's default is a system-wide file)."""

    def start(self) -> Pushgateway:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            binary("prometheus-pushgateway"),
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={self.dir / 'pushgateway.data'}",
            "--log.level=warn",
        ]
        self._start(argv, "/-/ready")
        return self

    def metrics_text(self) -> str:
        return http_get(f"{self.url}/metrics").decode()


def documented_scrape_config(doc: Path, *, target: str, interval: str) -> str:
    """The scrape configuration ``doc`` (docs/observability.md) shows, pointed at ``target``, scraping every ``interval``."""
    match = SCRAPE_BLOCK.search(doc.read_text())
    assert match is not None, f"{doc} has no scrape-config block"
    text = match.group(1)
    text = re.sub(r"scrape_interval: \S+", f"scrape_interval: {interval}", text)
    return text.replace("127.0.0.1:9464", target)
