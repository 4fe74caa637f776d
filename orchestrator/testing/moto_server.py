"""moto in server mode inside the test process: one server per session, reset per test.

The server listens on 127.0.0.1 on a port the OS picks. ``MOTO_*`` settings are applied before moto is
first imported (some are read at import). The helpers that reach into moto's in-process backends (the
server shares memory with the tests) live here and only here: they depend on moto 5.2.5 internals.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
MOTO_ENV = {
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    # trainctl attaches no AWS managed policy; loading them costs 1.5-3 s after every reset (the first
    # request resolves the account through IAM). Set the variable to "true" before the server starts to have them.
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "false",
    "AWS_EC2_METADATA_DISABLED": "true",
}
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
SPOT_TERMINATION = ("Server.SpotInstanceTermination", "Server.SpotInstanceTermination: Spot instance termination")


class MotoServer:
    """A ThreadedMotoServer on 127.0.0.1 with reset and in-process backend helpers."""

    def __init__(self) -> None:
        self._server: Any = None
        self.url = ""

    def start(self) -> MotoServer:
        for name, value in MOTO_ENV.items():
            os.environ.setdefault(name, value)
        with patched_env(CLIENT_ENV):
            from moto.server import ThreadedMotoServer

            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Forget every resource (about 40 ms)."""
        self._post("/moto-api/reset", b"")

    def seed(self, value: int) -> None:
        """Make generated ids repeatable."""
        self._post(f"/moto-api/seed?a={value}", b"")

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """Client environment pointing at this server (or at ``endpoint``, e.g. a fault proxy in front)."""
        return {**CLIENT_ENV, "AWS_ENDPOINT_URL": endpoint or self.url}

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(self.url + path, data=body, method="POST")  # noqa: S310 - loopback test server
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback test server
            answer.read()


def ec2_backend(region: str = REGION) -> Any:
    """moto's in-process EC2 backend of the default account."""
    from moto.backends import get_backend

    return get_backend("ec2")[ACCOUNT][region]


def interrupt_spot(instance_id: str, region: str = REGION) -> None:
    """What EC2 does when it reclaims a spot instance: terminated, with the spot state reason."""
    from moto.ec2.models.instances import StateReason

    instance = ec2_backend(region).get_instance(instance_id)
    instance.terminate()
    code, message = SPOT_TERMINATION
    instance.state_reason = StateReason(message, code)
    instance._reason = message


def shut_down(instance_id: str, region: str = REGION) -> None:
    """An instance-initiated shutdown (the agent ended): terminated with that state reason."""
    from moto.ec2.models.instances import StateReason

    instance = ec2_backend(region).get_instance(instance_id)
    instance.terminate()
    instance.state_reason = StateReason(
        "Client.InstanceInitiatedShutdown: Instance initiated shutdown", "Client.InstanceInitiatedShutdown"
    )


def register_image(ec2: Any, name: str = "trainctl-test-image", root_device: str = "/dev/xvda") -> str:
    """An AMI to launch from (the server loads no default AMIs)."""
    mapping = [{"DeviceName": root_device, "Ebs": {"VolumeSize": 8}}]
    answer = ec2.register_image(Name=name, RootDeviceName=root_device, BlockDeviceMappings=mapping)
    return str(answer["ImageId"])


@contextmanager
def patched_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, restoring the previous values after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
