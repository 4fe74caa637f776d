"""Spot interruption notice from the instance metadata service (IMDSv2), standard library only.

``SpotNotice(url)`` is the supervisor's interruption check: it answers True once
``spot/instance-action`` answers 200 (AWS posts it about two minutes before reclaiming the instance)
and stays True afterwards. It asks at most every ``min_interval_s`` seconds (answering from memory in
between), gets a session token with ``PUT /latest/api/token`` first (IMDSv2 is required on trainctl
instances), and never raises: a metadata service that does not answer means "no notice".
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

DEFAULT_URL = "http://169.254.169.254/latest/meta-data/spot/instance-action"
TOKEN_PATH = "/latest/api/token"  # noqa: S105 - a URL path, not a secret
LIFECYCLE_PATH = "/latest/meta-data/instance-life-cycle"  # "spot" or "on-demand"
TOKEN_TTL_S = 21600
MIN_INTERVAL_S = 5.0
TIMEOUT_S = 1.0


class SpotNotice:
    """Callable: True once the instance has been told it will be interrupted."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        min_interval_s: float = MIN_INTERVAL_S,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        self.url = url
        self.token_url = f"{parts.scheme}://{parts.netloc}{TOKEN_PATH}"
        self.min_interval_s = max(min_interval_s, MIN_INTERVAL_S)
        self.timeout_s = timeout_s
        self._clock = clock
        self._last_asked: float | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self.noticed = False
        self.requests = 0

    def __call__(self) -> bool:
        if self.noticed:
            return True
        now = self._clock()
        if self._last_asked is not None and now - self._last_asked < self.min_interval_s:
            return False
        self._last_asked = now
        try:
            self.noticed = self._ask(now)
        except Exception:  # noqa: BLE001 - a flaky metadata service must never stop the supervisor
            self.noticed = False
        return self.noticed

    def _ask(self, now: float) -> bool:
        token = self._session_token(now)
        if token is None:
            return False
        status = self._get(token)
        if status == 401:  # the token expired early (instance clock, service restart): one fresh try
            self._token = None
            token = self._session_token(now)
            status = self._get(token) if token else None
        return status == 200

    def _session_token(self, now: float) -> str | None:
        if self._token is not None and now < self._token_expires:
            return self._token
        headers = {"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)}
        request = urllib.request.Request(self.token_url, method="PUT", headers=headers)  # noqa: S310 - fixed http URL
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 - fixed http URL
                token = str(answer.read().decode()).strip()
        except (urllib.error.URLError, OSError, ValueError):
            return None
        if not token:
            return None
        self._token = token
        self._token_expires = now + TOKEN_TTL_S - 60
        return token

    def market(self) -> str | None:
        """``spot`` or ``on-demand``: how this instance was bought (None when the service does not say)."""
        token = self._session_token(self._clock())
        if token is None:
            return None
        parts = urlsplit(self.url)
        status, body = self._fetch(token, f"{parts.scheme}://{parts.netloc}{LIFECYCLE_PATH}")
        if status != 200:
            return None
        return body.decode(errors="replace").strip() or None

    def _get(self, token: str) -> int | None:
        return self._fetch(token, self.url)[0]

    def _fetch(self, token: str, url: str) -> tuple[int | None, bytes]:
        request = urllib.request.Request(url, headers={"X-aws-ec2-metadata-token": token})  # noqa: S310 - fixed http URL
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 - fixed http URL
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as e:
            return int(e.code), b""
        except (urllib.error.URLError, OSError, ValueError):
            return None, b""
