"""SpotNotice against a fake IMDSv2 on 127.0.0.1: token first, 200 means notice, never raises, polls sparingly."""

from __future__ import annotations

import socket

from orchestrator.agent.imds import SpotNotice
from orchestrator.testing.imds import ACTION_PATH, FakeImds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


def test_market_says_how_the_instance_was_bought(imds: FakeImds) -> None:
    """instance-life-cycle answers spot or on-demand; no answer means unknown (None), never an error."""
    notice = SpotNotice(imds.url)
    assert notice.market() is None
    imds.market = b"on-demand"
    assert notice.market() == "on-demand"
    imds.market = b"spot\n"
    assert notice.market() == "spot"
    assert SpotNotice("http://127.0.0.1:9/latest/meta-data/spot/instance-action", timeout_s=0.2).market() is None
