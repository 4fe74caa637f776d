"""A fake IMDSv2 on 127.0.0.1 for agent tests: session tokens, the spot notice, the instance's market and id.

The one fake metadata service of the tests: the AWS agent's unit tests and the local target's
preemption tests (``TRAINCTL_LOCAL_SPOT_NOTICE_URL``) both use it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from orchestrator.agent.imds import LIFECYCLE_PATH

ACTION_PATH = "/latest/meta-data/spot/instance-action"
INSTANCE_ID_PATH = "/latest/meta-data/instance-id"
TERMINATE = b'{"action": "terminate", "time": "2026-11-28T00:00:00Z"}'


class FakeImds:
    """IMDSv2: PUT /latest/api/token hands out a token; GETs without a valid one get 401."""

    def __init__(self) -> None:
        self.action: bytes | None = None
        self.action_times: int | None = None  # how many more GETs see ``action``; None: all of them
        self.actions_served = 0
        self._lock = threading.Lock()
        self.market: bytes | None = None
        self.instance_id: bytes | None = None
        self.tokens_issued = 0
        self.valid_token = "token-1"  # noqa: S105 - a fake session token
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
                elif self.path == ACTION_PATH and (action := fake._take_action()) is not None:
                    self._answer(200, action)
                elif self.path == LIFECYCLE_PATH and fake.market is not None:
                    self._answer(200, fake.market)
                elif self.path == INSTANCE_ID_PATH and fake.instance_id is not None:
                    self._answer(200, fake.instance_id)
                else:
                    self._answer(404, b"Not Found")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}{ACTION_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notice(self, action: bytes = TERMINATE, *, times: int | None = 1) -> None:
        """Post a spot interruption notice, seen by the next ``times`` reads (None: until cleared)."""
        with self._lock:
            self.action, self.action_times = action, times

    def _take_action(self) -> bytes | None:
        with self._lock:
            if self.action is None or self.action_times == 0:
                return None
            if self.action_times is not None:
                self.action_times -= 1
            self.actions_served += 1
            return self.action

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
