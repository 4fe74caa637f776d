"""AWS resource types that take tags, as listed by the pinned pulumi-aws SDK (``aws_taggable.txt``).

Regenerate the list after upgrading pulumi-aws: ``python policies/trainctl_policies/_aws.py``.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

LIST = Path(__file__).with_name("aws_taggable.txt")
_TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(aws:[^']+)'")
_TAGS_INPUT = '__props__.__dict__["tags"] = tags'


@cache
def taggable_types() -> frozenset[str]:
    """Type tokens of every pulumi-aws resource with a ``tags`` input."""
    lines = LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def scan_sdk(package_dir: Path) -> set[str]:
    """The taggable type tokens declared by the pulumi-aws sources under ``package_dir``."""
    found: set[str] = set()
    for source in package_dir.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        if _TAGS_INPUT in text:
            found.update(_TOKEN.findall(text))
    return found


def main() -> None:
    """Rewrite ``aws_taggable.txt`` from the installed pulumi-aws."""
    import pulumi_aws

    version = getattr(pulumi_aws, "__version__", None) or _sdk_version()
    tokens = sorted(scan_sdk(Path(pulumi_aws.__file__).parent))
    header = f"# AWS resource types with a `tags` input, from pulumi-aws {version} (see _aws.py)\n"
    LIST.write_text(header + "\n".join(tokens) + "\n", encoding="utf-8")
    sys.stdout.write(f"{len(tokens)} taggable types written to {LIST}\n")


def _sdk_version() -> str:
    from importlib.metadata import version

    return version("pulumi_aws")


if __name__ == "__main__":
    main()
