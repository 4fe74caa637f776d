"""A fault-injecting HTTP proxy on 127.0.0.1, in front of an AWS emulator (moto has no fault injection).

Clients point ``AWS_ENDPOINT_URL`` at ``FaultProxy.url``; every request is forwarded to the upstream
unless a ``Fault`` matches it: by ``Action=`` (query APIs such as EC2, in the query string or the form
body), by the ``X-Amz-Target`` header (JSON APIs such as CloudWatch Logs), or, for REST requests
that carry neither (S3), as ``S3:<METHOD>`` (a fault for ``S3`` matches every method), optionally only when the
body contains a marker (``MarketType=spot``), at a chosen rate (seeded) and at most ``times`` times.
A matched request gets a capacity error, throttling, a 5xx, a refusal (4xx with the service's exact
code and message), a canned answer (for what moto lacks: public SSM parameters, EC2 Service Quotas,
real image block device mappings), or a slow forward. ``when`` may also be a predicate on the body.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

FaultKind = Literal["capacity", "throttle", "server-error", "slow", "canned", "refused"]
JSON_CONTENT = "application/x-amz-json-1.1"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "host"}


@dataclass
class Fault:
    """One kind of failure for the requests it matches."""

    action: str
    kind: FaultKind
    rate: float = 1.0
    times: int | None = None
    when: str | Callable[[bytes], bool] | None = None
    delay_s: float = 0.0
    status: int = 200
    body: bytes = b""
    content_type: str = "text/xml"
    injected: int = field(default=0, init=False)

    def matches(self, action: str | None, target: str | None, body: bytes) -> bool:
        named = (
            self.action in (action, target)
            or (target is not None and target.endswith("." + self.action))
            or (self.action == "S3" and action is None and target is None)
        )
        if not named:
            return False
        if callable(self.when):
            if not self.when(body):
                return False
        elif self.when is not None and self.when.encode() not in body:
            return False
        return self.times is None or self.injected < self.times


@dataclass
class Seen:
    """A request the proxy handled, and whether a fault answered it."""

    action: str | None
    fault: FaultKind | None


class FaultProxy:
    """The proxy server; ``add`` faults, read ``seen``; ``clear`` between tests."""

    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self._random = random.Random(seed)  # noqa: S311 - reproducible fault rates, not cryptography
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()

    def count(self, action: str, fault: FaultKind | None = None) -> int:
        """How many ``action`` requests arrived (with ``fault``: how many that fault answered); ``S3`` counts every S3 method."""
        with self._lock:
            return sum(
                1
                for s in self.seen
                if (s.action == action or (s.action or "").startswith(action + ":")) and (fault is None or s.fault == fault)
            )

    def choose(self, action: str | None, target: str | None, body: bytes, *, rest: str | None = None) -> Fault | None:
        """The fault that answers this request, if any; ``rest`` names a request with no action or target
        (S3's REST API: ``S3:<METHOD>``) in ``seen``."""
        named = action or target or rest
        with self._lock:
            for fault in self.faults:
                if fault.matches(action, target, body) and self._random.random() < fault.rate:
                    fault.injected += 1
                    self.seen.append(Seen(named, fault.kind))
                    return fault
            self.seen.append(Seen(named, None))
            return None


def capacity(
    action: str = "RunInstances", *, when: str | None = "MarketType=spot", rate: float = 1.0, times: int | None = None
) -> Fault:
    """EC2's InsufficientInstanceCapacity (HTTP 500), by default for spot launches only."""
    body = _ec2_error("InsufficientInstanceCapacity", "There is no Spot capacity available that matches your request.")
    return Fault(action, "capacity", rate=rate, times=times, when=when, status=500, body=body)


def throttle(action: str, *, json_api: bool = False, rate: float = 1.0, times: int | None = None) -> Fault:
    """Throttling: EC2-style RequestLimitExceeded (503) or a JSON API's ThrottlingException (400)."""
    if json_api:
        body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return Fault(action, "throttle", rate=rate, times=times, status=400, body=body, content_type="application/x-amz-json-1.1")
    body = _ec2_error("RequestLimitExceeded", "Request limit exceeded.")
    return Fault(action, "throttle", rate=rate, times=times, status=503, body=body)


def s3_slow_down(*, rate: float = 1.0, times: int | None = None) -> Fault:
    """S3's throttling answer (503 SlowDown) to any S3 request: what a busy bucket prefix answers."""
    body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    return Fault("S3", "throttle", rate=rate, times=times, status=503, body=body, content_type="application/xml")


def server_error(action: str, *, rate: float = 1.0, times: int | None = None) -> Fault:
    """A bare 500 with an InternalError body."""
    body = _ec2_error("InternalError", "An internal error has occurred")
    return Fault(action, "server-error", rate=rate, times=times, status=500, body=body)


def slow(action: str, delay_s: float, *, rate: float = 1.0, times: int | None = None) -> Fault:
    """Forward after ``delay_s`` seconds."""
    return Fault(action, "slow", rate=rate, times=times, delay_s=delay_s)


def unsupported_in_zone(instance_type: str, zone: str, subnet: str, offered: list[str]) -> Fault:
    """EC2's refusal of RunInstances in ``subnet``, whose zone does not offer ``instance_type`` (HTTP 400)."""
    message = (
        f"Your requested instance type ({instance_type}) is not supported in your requested Availability Zone ({zone}). "
        f"Please retry your request by not specifying an Availability Zone or choosing {', '.join(offered)}."
    )
    return Fault("RunInstances", "refused", when=f"SubnetId={subnet}", status=400, body=_ec2_error("Unsupported", message))


def snapshot_too_small(requested_gb: int, snapshot_gb: int, snapshot: str = "snap-0a1b2c3d4e5f60718") -> Fault:
    """EC2's refusal of a root volume smaller than the image's snapshot (HTTP 400), for every RunInstances
    that does not itself ask for a volume of at least ``snapshot_gb`` (so the template's ``requested_gb`` stands)."""

    def too_small(body: bytes) -> bool:
        return not any(int(size) >= snapshot_gb for size in re.findall(rb"Ebs\.VolumeSize=(\d+)", body))

    message = f"Volume of size {requested_gb}GB is smaller than snapshot '{snapshot}', expect size >= {snapshot_gb}GB"
    return Fault("RunInstances", "refused", when=too_small, status=400, body=_ec2_error("InvalidBlockDeviceMapping", message))


def access_denied(action: str, *, message: str = "User is not authorized to perform this action") -> Fault:
    """A JSON API's AccessDeniedException (HTTP 400) for ``action``."""
    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
    return Fault(action, "refused", status=400, body=body, content_type=JSON_CONTENT)


def service_quota(code: str, value: float, name: str) -> Fault:
    """Service Quotas' GetServiceQuota answer for EC2 quota ``code`` (moto has EC2 quotas of no kind)."""
    quota = {
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": f"arn:aws:servicequotas:us-east-1:123456789012:ec2/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }
    body = json.dumps({"Quota": quota}).encode()
    return Fault("GetServiceQuota", "canned", when=f'"{code}"', body=body, content_type=JSON_CONTENT)


def ssm_parameter(name: str, value: str) -> Fault:
    """SSM GetParameter's answer for a public parameter (moto refuses to store names under /aws/)."""
    parameter = {"Name": name, "Type": "String", "Value": value, "Version": 1, "ARN": f"arn:aws:ssm:us-east-1::parameter{name}"}
    body = json.dumps({"Parameter": parameter}).encode()
    return Fault("GetParameter", "canned", when=f'"{name}"', body=body, content_type=JSON_CONTENT)


def image(image_id: str, *, snapshot_gb: int, root_device: str = "/dev/xvda", name: str = "test-image") -> Fault:
    """DescribeImages' answer for ``image_id`` with a root snapshot of ``snapshot_gb`` (moto reports 15 GiB for all)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>fault-proxy</requestId><imagesSet><item><imageId>{image_id}</imageId><imageState>available</imageState>"
        f"<name>{name}</name><architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType>"
        f"<rootDeviceName>{root_device}</rootDeviceName><blockDeviceMapping><item><deviceName>{root_device}</deviceName>"
        f"<ebs><snapshotId>snap-0a1b2c3d4e5f60718</snapshotId><volumeSize>{snapshot_gb}</volumeSize>"
        "<deleteOnTermination>true</deleteOnTermination><volumeType>gp3</volumeType></ebs></item></blockDeviceMapping>"
        "</item></imagesSet></DescribeImagesResponse>"
    ).encode()
    return Fault("DescribeImages", "canned", when=f"ImageId.1={image_id}", body=body)


def instance_type_offerings(instance_type: str, zones: list[str]) -> Fault:
    """DescribeInstanceTypeOfferings' answer: ``instance_type`` offered in ``zones`` only (none: not in the region)."""
    items = "".join(
        f"<item><instanceType>{instance_type}</instanceType><locationType>availability-zone</locationType>"
        f"<location>{zone}</location></item>"
        for zone in zones
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstanceTypeOfferingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>fault-proxy</requestId><instanceTypeOfferingSet>{items}</instanceTypeOfferingSet>"
        "</DescribeInstanceTypeOfferingsResponse>"
    ).encode()
    return Fault("DescribeInstanceTypeOfferings", "canned", when=instance_type, body=body)


def open_spot_requests(instance_types: list[str]) -> Fault:
    """DescribeSpotInstanceRequests' answer: one open (unfulfilled) request per type (moto fulfils every request at once)."""
    items = "".join(
        f"<item><spotInstanceRequestId>sir-fault{n:04d}</spotInstanceRequestId><state>open</state><type>one-time</type>"
        f"<launchSpecification><instanceType>{kind}</instanceType></launchSpecification></item>"
        for n, kind in enumerate(instance_types)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeSpotInstanceRequestsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>fault-proxy</requestId><spotInstanceRequestSet>{items}</spotInstanceRequestSet>"
        "</DescribeSpotInstanceRequestsResponse>"
    ).encode()
    return Fault("DescribeSpotInstanceRequests", "canned", body=body)


def _ec2_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    ).encode()


def _action(path: str, body: bytes) -> str | None:
    query = parse_qs(urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    if b"Action=" in body:
        try:
            form = parse_qs(body.decode())
        except UnicodeDecodeError:
            return None
        return form.get("Action", [None])[0]
    return None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.choose(_action(self.path, body), self.headers.get("X-Amz-Target"), body, rest=f"S3:{self.command}")
            if fault is not None and fault.kind != "slow":
                self._reply(fault.status, fault.body, fault.content_type)
                return
            if fault is not None:
                time.sleep(fault.delay_s)
            self._forward(body)

        def _forward(self, body: bytes) -> None:
            upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
            try:
                upstream.request(
                    self.command, self.path, body=body if body or self.command in ("POST", "PUT") else None, headers=headers
                )
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP and (key.lower() != "content-length" or self.command == "HEAD"):
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has headers only
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Handler
