"""Hypothesis strategies for job specs: valid ones that set any field, and corruptions of them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

names = st.from_regex(r"[a-z][a-z0-9-]{2,39}", fullmatch=True)
words = st.from_regex(r"[a-z][a-z0-9.@-]{0,20}", fullmatch=True)
tag_values = st.from_regex(r"[A-Za-z0-9_ .:/=+@-]{1,30}", fullmatch=True)
durations = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 500), st.sampled_from("smhd"))
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True).filter(lambda s: not s.startswith("TRAINCTL_"))
relative_paths = st.from_regex(r"[a-z][a-z0-9_]{0,8}(/[a-z0-9_]{1,8}){0,2}", fullmatch=True)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    target = draw(st.sampled_from(["local", "aws"]))
    spec: dict[str, Any] = {"name": draw(names), "team": draw(tag_values), "owner": draw(words)}
    if draw(st.booleans()):
        spec["apiVersion"] = "trainctl/v1"
    if draw(st.booleans()):
        spec["cost_center"] = draw(tag_values)
    spec["target"] = target
    resources: dict[str, Any] = {}
    if target == "aws" or draw(st.booleans()):
        resources["instance_type"] = draw(st.sampled_from(["g5.xlarge", "p4d.24xlarge", "t3.micro", "g4dn.12xlarge"]))
    if draw(st.booleans()):
        resources["nodes"] = draw(st.integers(1, 64))
    if draw(st.booleans()):
        resources["spot"] = draw(st.booleans())
        resources["on_demand_fallback"] = draw(st.booleans())
        resources["disk_gb"] = draw(st.integers(8, 16384))
    if draw(st.booleans()):
        resources["region"] = draw(st.sampled_from(["us-east-1", "eu-west-1", "us-gov-west-1"]))
        resources["ami"] = draw(st.from_regex(r"ami-[0-9a-f]{8,17}", fullmatch=True))
    if resources:
        spec["resources"] = resources
    code: dict[str, Any] = {"run": draw(st.text(min_size=1, max_size=30))}
    if draw(st.booleans()):
        code["setup"] = draw(st.text(min_size=1, max_size=30))
        code["workdir"] = draw(relative_paths)
    spec["code"] = code
    if draw(st.booleans()):
        limits = {"max_runtime": draw(durations), "max_cost_usd": draw(st.one_of(st.floats(0.01, 1e5), st.integers(1, 10**5)))}
        spec["limits"] = {k: v for k, v in limits.items() if draw(st.booleans())}
    if draw(st.booleans()):
        keep_last = draw(st.integers(1, 50))
        spec["checkpoints"] = {"path": draw(relative_paths), "sync_interval": draw(durations), "keep_last": keep_last}
    env = draw(st.dictionaries(env_names, st.text(max_size=10), max_size=3))
    if env or draw(st.booleans()):
        spec["env"] = env
    if draw(st.booleans()):
        spec["secrets"] = draw(st.lists(env_names.filter(lambda s: s not in env), max_size=3, unique=True))
    if draw(st.booleans()):
        spec["restarts"] = {"max_preemptions": draw(st.integers(0, 100)), "max_failures": draw(st.integers(0, 100))}
    return spec


def corrupt(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with one value replaced, deleted, added or corrupted further down."""
    junk = st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.booleans(),
    )
    if isinstance(doc, dict) and doc:
        key = data.draw(st.sampled_from(sorted(doc)))
        action = data.draw(st.sampled_from(["replace", "delete", "recurse", "add"]))
        copy = dict(doc)
        if action == "replace":
            copy[key] = data.draw(junk)
        elif action == "delete":
            del copy[key]
        elif action == "add":
            copy[data.draw(st.text(min_size=1, max_size=8))] = data.draw(junk)
        else:
            copy[key] = corrupt(doc[key], data)
        return copy
    if isinstance(doc, list) and doc and data.draw(st.booleans()):
        return [*doc, data.draw(junk)]
    return data.draw(junk)


# Values at the edges of what some field accepts: bounds, lax spellings, near-miss names, wrong types.
EDGE_VALUES: list[Any] = [
    *["", " ", "x", "A", "ab", "abc", "-abc", "1abc", "a" * 40, "a" * 41, "Bad_Name", "abc\n", "é", "t" * 256, "t" * 257],
    *["trainctl/v1", "trainctl/v2", "local", "aws", "gcp", "LOCAL", "g5.xlarge", "g5.xlarge\n", "G5.XLARGE"],
    *["us-east-1", "us-east-\u0661", "ami-0123456789abcdef0", "ami-xyz", "checkpoints", "../up", "/abs", "a/../b"],
    *["90s", " 90s ", "0s", "1.5h", "5400s", "90m", "\u0661\u0662s", "5", "5.0", "true", "yes", "TRAINCTL_X"],
    *[0, 1, -1, 3, 7, 8, 100, 101, 1000, 1001, 16384, 16385, 2**53 + 1, 0.0, -0.0, 1e-9, 5.0, 8.0, True, False, None],
    *[float("inf"), float("nan"), [], ["A"], ["A", "A"], ["TRAINCTL_A"], ["1X"], [1], ["LEARNING_RATE"]],
    *[{}, {"A": "v"}, {"A": 1}, {"A": None}, {"TRAINCTL_A": "v"}, {"1X": "v"}, {"WANDB_API_KEY": "x"}],
]
edge_values = st.one_of(st.sampled_from(EDGE_VALUES), st.text(max_size=6), st.integers(), st.floats())


def leaf_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``doc``: each mapping key and list index, at any depth."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += leaf_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += leaf_paths(value, (*prefix, i))
    return found


def near_miss(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """``doc`` with ONE field (at any depth) set to an edge value, removed, or joined by an unknown one."""
    copy: dict[str, Any] = yaml_copy(doc)
    path = data.draw(st.sampled_from(leaf_paths(copy)))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = data.draw(edge_values)
    elif action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["extra", "Name", "api_version", "instance-type"]))] = data.draw(edge_values)
    return copy


def yaml_copy(doc: Any) -> Any:
    """A deep copy of a YAML-shaped value."""
    if isinstance(doc, dict):
        return {k: yaml_copy(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [yaml_copy(v) for v in doc]
    return doc
