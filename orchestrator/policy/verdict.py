"""The verdict on a set of violations: blocked (mandatory ones, exit 3) or allowed with warnings."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.errors import PolicyViolationError
from orchestrator.policy.model import Violation

HINT = "fix each violation as it says, or ask your platform team about the policy config (docs/policies.md)"


class PolicyBlockedError(PolicyViolationError):
    """Mandatory policies refused; carries every violation (``--output json`` lists them)."""

    def __init__(self, violations: Sequence[Violation], **kwargs: object) -> None:
        self.violations = list(violations)
        blocking = [v for v in self.violations if v.mandatory]
        policies = sorted({v.policy for v in blocking})
        count = len(blocking)
        super().__init__(
            f"blocked by policy: {count} mandatory violation{'s' if count != 1 else ''} ({', '.join(policies)})",
            details=[v.line() for v in blocking],
            context={"policies": ",".join(policies), **{k: str(v) for k, v in kwargs.items()}},
            hint=HINT,
        )

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "violations": [v.to_dict() for v in self.violations]}


def blocking(violations: Sequence[Violation]) -> list[Violation]:
    """The mandatory violations."""
    return [v for v in violations if v.mandatory]


def raise_if_blocked(violations: Sequence[Violation], error: BaseException | None = None, **context: object) -> None:
    """Raise PolicyBlockedError (exit 3) when any violation is mandatory (``error``: the engine's, as cause)."""
    if blocking(violations):
        raise PolicyBlockedError(violations, **context) from error
