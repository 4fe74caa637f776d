"""The job's machine image and the root volume it needs.

EC2 refuses a root volume smaller than the image's root snapshot ("Volume of size 50GB is smaller than
snapshot 'snap-...', expect size >= 75GB"). The GPU image trainctl boots (Deep Learning Base OSS Nvidia
Driver AMI, Amazon Linux 2023) has a 75 GiB snapshot while ``resources.disk_gb`` defaults to 50, so
the root volume is ``max(disk_gb, snapshot)``. The snapshot size comes from the resolved image
(the public SSM parameter's AMI, or the spec's ``ami``, through DescribeImages) whenever AWS can be
asked; ``plan --offline`` uses the sourced table of ``orchestrator/data/images.json`` instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from orchestrator.cloud import aws
from orchestrator.errors import CloudError, InternalError, InvalidInputError
from orchestrator.targets.aws.bootstrap import architecture, image_id, is_gpu

PACKAGED_RESOURCE = "data/images.json"
SSM_PREFIX = "resolve:ssm:"  # how a launch template names an image through a public SSM parameter
_MISSING_IMAGE = ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable", "ParameterNotFound")


@dataclass(frozen=True)
class ImageFacts:
    """What EC2 says about one image: its id, root device and the size of the root device's snapshot."""

    image_id: str
    root_device: str | None
    snapshot_gb: int | None


@dataclass(frozen=True)
class RootVolume:
    """The root volume a job gets: what the spec asked for, what it will be, and why."""

    requested_gb: int
    effective_gb: int
    basis: str

    @property
    def enlarged(self) -> bool:
        return self.effective_gb > self.requested_gb

    def notice(self) -> str | None:
        """What to tell the user when the spec's size is not the one launched (None when it is)."""
        if not self.enlarged:
            return None
        return (
            f"root volume: {self.effective_gb} GiB instead of resources.disk_gb {self.requested_gb}: {self.basis} "
            f"(EC2 refuses a smaller one); set disk_gb: {self.effective_gb} or more to silence this"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"requested_gb": self.requested_gb, "effective_gb": self.effective_gb, "basis": self.basis}


def family(instance_type: str) -> str:
    """The image family trainctl boots for ``instance_type``: ``gpu-x86_64``, ``cpu-arm64``, ..."""
    return f"{'gpu' if is_gpu(instance_type) else 'cpu'}-{architecture(instance_type)}"


def known_root_volume(instance_type: str, disk_gb: int, override: str | None) -> RootVolume:
    """The root volume from the packaged table alone (no AWS call): what `plan --offline` shows."""
    if override:
        return RootVolume(disk_gb, disk_gb, f"image {override} is checked only online (plan without --offline, or up)")
    entry = _families()[family(instance_type)]
    snapshot = int(entry["root_snapshot_gb"])
    basis = f"the {entry['image']} image has a {snapshot} GiB root snapshot (orchestrator/data/images.json)"
    return RootVolume(disk_gb, max(disk_gb, snapshot), basis)


def root_volume(ssm: Any, ec2: Any, instance_type: str, disk_gb: int, override: str | None) -> RootVolume:
    """The root volume from the image AWS resolves now (the override, or the SSM parameter's AMI)."""
    facts = describe(ssm, ec2, image_id(instance_type, override))
    if facts.snapshot_gb is None:
        return RootVolume(disk_gb, disk_gb, f"image {facts.image_id} names no root snapshot size")
    basis = f"image {facts.image_id} has a {facts.snapshot_gb} GiB root snapshot"
    return RootVolume(disk_gb, max(disk_gb, facts.snapshot_gb), basis)


def describe(ssm: Any, ec2: Any, reference: str) -> ImageFacts:
    """Resolve ``reference`` (``ami-...`` or ``resolve:ssm:<parameter>``) and read the image.

    A missing image or parameter is an InvalidInputError naming it (``resources.ami`` is the usual cause).
    """
    ami = _resolve(ssm, reference)
    try:
        images = aws.call(
            "reading the image (ec2 DescribeImages)", lambda: ec2.describe_images(ImageIds=[ami])["Images"], image_id=ami
        )
    except CloudError as e:
        if aws.error_code(e) not in _MISSING_IMAGE:
            raise
        images = []
    if not images:
        raise InvalidInputError(
            f"image {ami} does not exist in this region or this account cannot use it",
            context={"image_id": ami},
            hint="check resources.ami (AMIs are per region), or remove it to boot the image trainctl chooses",
        )
    return _facts(images[0])


def _resolve(ssm: Any, reference: str) -> str:
    if not reference.startswith(SSM_PREFIX):
        return reference
    name = reference[len(SSM_PREFIX) :]
    try:
        answer = aws.call(
            "finding the image (ssm GetParameter)", lambda: ssm.get_parameter(Name=name)["Parameter"], parameter=name
        )
    except CloudError as e:
        if aws.error_code(e) != "ParameterNotFound":
            raise
        raise InvalidInputError(
            f"the public image parameter {name} does not exist in this region",
            context={"parameter": name},
            hint="this image family is not published in the region: choose another region or set resources.ami",
        ) from e
    return str(answer["Value"])


def _facts(image: dict[str, Any]) -> ImageFacts:
    root = image.get("RootDeviceName")
    sizes = [
        m["Ebs"].get("VolumeSize")
        for m in image.get("BlockDeviceMappings") or []
        if m.get("DeviceName") == root and isinstance(m.get("Ebs"), dict)
    ]
    size = next((int(s) for s in sizes if s), None)
    return ImageFacts(image_id=str(image["ImageId"]), root_device=root, snapshot_gb=size)


@lru_cache(maxsize=1)
def _families() -> dict[str, dict[str, Any]]:
    text = resources.files("orchestrator").joinpath(PACKAGED_RESOURCE).read_text(encoding="utf-8")
    try:
        families: dict[str, dict[str, Any]] = json.loads(text)["families"]
    except (ValueError, KeyError) as e:
        raise InternalError(f"the packaged image table is broken: {e}", hint="reinstall trainctl") from e
    return families
