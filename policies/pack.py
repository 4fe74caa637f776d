"""Serve the trainctl policy pack to the Pulumi engine (run by ./trainctl-policy-pack; never import it).

``PolicyPack(...)`` starts a gRPC Analyzer server, writes its port to stdout and blocks: that is the
engine's plugin protocol. The policies themselves are plain functions in ``trainctl_policies``.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if find_spec("orchestrator") is None:  # trainctl not installed in this Python: use the checkout beside us
    sys.path.append(str(HERE.parent))


def main() -> None:
    """Build the pack from every policy and the shipped defaults, and serve it until the engine stops us."""
    from pulumi_policy import EnforcementLevel, PolicyPack
    from trainctl_policies import all_policies
    from trainctl_policies.adapter import initial_config, to_pulumi

    PolicyPack(
        name="trainctl",
        policies=[to_pulumi(policy) for policy in all_policies()],
        enforcement_level=EnforcementLevel.ADVISORY,
        initial_config=initial_config(HERE / "defaults.json"),
        description="Gates what trainctl jobs may create: tags, instance types, cost caps, runtime, security.",
    )


if __name__ == "__main__":
    main()
