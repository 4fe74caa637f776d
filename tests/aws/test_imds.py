"""SpotNotice against a fake IMDSv2 on 127.0.0.1: token first, 200 means notice, never raises, polls sparingly."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.agent.imds import SpotNotice

ACTION_PATH = "/latest/meta-data/spot/instance-action"


class FakeImds:
    """IMDSv2: PUT /latest/api/token hands out a token; GETs without a valid one get 401."""

    def __init__(self) -> None:
        self.action: bytes | None = None
        self.tokens_issued = 0
        self.valid_token = "token-1"
        self.gets = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_PUT(self) -> None:
                if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._answer(400, b"")
                    return
                fake.tokens_issued += 1
                self._answer(200, fake.valid_token.encode())

            def do_GET(self) -> None:
                fake.gets += 1
                if self.headers.get("X-aws-ec2-metadata-token") != fake.valid_token:
                    self._answer(401, b"")
                elif self.path == ACTION_PATH and fake.action is not None:
                    self._answer(200, fake.action)
                else:
                    self._answer(404, b"Not Found")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{ACTION_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    fake = FakeImds()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_notice_appears_once_instance_action_answers_200(imds: FakeImds) -> None:
    """404 means no notice; once instance-action answers 200 the notice is True and stays True."""
    clock = Clock()
    notice = SpotNotice(imds.url, clock=clock)
    assert notice() is False
    imds.action = b'{"action": "terminate", "time": "2026-11-28T10:00:00Z"}'
    clock.now += 5
    assert notice() is True
    imds.action = None
    clock.now += 5
    assert notice() is True


def test_asks_at_most_every_five_seconds_and_reuses_its_token(imds: FakeImds) -> None:
    """Calls in between answer from memory; one token serves many polls."""
    clock = Clock()
    notice = SpotNotice(imds.url, clock=clock, min_interval_s=1.0)
    for _ in range(20):
        notice()
        clock.now += 0.5
    assert imds.gets == 2  # t=1000 and t=1005: the interval never goes below 5 s
    assert imds.tokens_issued == 1


def test_an_expired_token_is_renewed(imds: FakeImds) -> None:
    """A 401 (the token no longer valid) gets a fresh token and one more try."""
    clock = Clock()
    notice = SpotNotice(imds.url, clock=clock)
    assert notice() is False
    imds.valid_token = "token-2"
    imds.action = b"{}"
    clock.now += 5
    assert notice() is True
    assert imds.tokens_issued == 2


def test_never_raises_when_the_metadata_service_is_unreachable() -> None:
    """Connection refused (not on EC2, IMDS disabled) is simply no notice."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = Clock()
    notice = SpotNotice(f"http://127.0.0.1:{port}{ACTION_PATH}", clock=clock, timeout_s=0.2)
    assert notice() is False
    clock.now += 5
    assert notice() is False
