"""`--output markdown` of `plan` and `check`: a summary for `$GITHUB_STEP_SUMMARY` or a pull request comment.

Rendered from the plan document (what `plan --output json` prints): the verdict first, then the resources to
create, the estimate (per hour and at most; for a spot job also what it costs if it falls back to
on-demand), each policy violation with its reason and fix, and the notices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def plan_markdown(plan: dict[str, Any], *, command: str = "plan") -> str:
    """The whole summary of ``plan`` (a plan document) as GitHub-flavoured markdown."""
    how = "offline plan" if plan["offline"] else "engine preview"
    lines = [f"### trainctl {command}: `{plan['job_name']}` on {plan['target']} ({how})", "", _verdict(plan["policy"]), ""]
    lines += _resources(plan["resources"])
    lines += _estimate(plan["estimate"], plan.get("estimate_if_fallback"))
    lines += _violations(plan["policy"]["violations"])
    if plan["notices"]:
        lines += ["#### Notices", "", *(f"- {_inline(n)}" for n in plan["notices"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def _verdict(policy: dict[str, Any]) -> str:
    violations = policy["violations"]
    mandatory = [v for v in violations if v["enforcement"] == "mandatory"]
    advisory = len(violations) - len(mandatory)
    if policy["blocked"]:
        return f"**Policy: blocked** by {len(mandatory)} mandatory violation(s); `up` would allocate nothing."
    more = f", {advisory} advisory violation(s)" if advisory else ""
    return f"**Policy: passed**: no mandatory violation{more}."


def _resources(resources: Sequence[dict[str, Any]]) -> list[str]:
    creates = sum(1 for r in resources if r.get("op", "create") == "create")
    rows = [(r.get("op", "create"), f"`{r['name']}`", f"`{r['type']}`") for r in resources]
    return [f"#### Resources ({creates} to create)", "", *_table(("op", "name", "type"), rows), ""]


def _estimate(estimate: dict[str, Any], fallback: dict[str, Any] | None) -> list[str]:
    as_of = f", prices as of {estimate['prices_as_of']}" if estimate.get("prices_as_of") else ""
    rows = [("as planned", _usd(estimate["hourly_usd"]), _most(estimate["max_usd"]))]
    if fallback is not None:
        rows.append(("if spot falls back to on-demand", _usd(fallback["hourly_usd"]), _most(fallback["max_usd"])))
    items = [
        (_inline(line["item"]), f"{line['quantity']:g} {line['unit']}", _usd(line["hourly_usd"]), _most(line["max_usd"]))
        for line in estimate["lines"]
    ]
    return [
        f"#### Estimate ({estimate['currency']}{as_of})",
        "",
        *_table(("case", "per hour", "at most"), rows),
        "",
        *_table(("item", "quantity", "per hour", "at most"), items),
        "",
    ]


def _violations(violations: Sequence[dict[str, Any]]) -> list[str]:
    if not violations:
        return ["#### Policy verdicts", "", "Every policy passed.", ""]
    rows = [
        (
            f"`{v['policy']}`",
            v["enforcement"],
            f"`{v['resource']}`" if v["resource"] else "stack",
            _inline(v["message"]),
            _inline(v["fix"] or ""),
        )
        for v in violations
    ]
    return ["#### Policy verdicts", "", *_table(("policy", "level", "resource", "reason", "fix"), rows), ""]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _inline(text: str) -> str:
    return " ".join(text.split())


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _most(value: float | None) -> str:
    return "unbounded (no `limits.max_runtime`)" if value is None else _usd(value)
