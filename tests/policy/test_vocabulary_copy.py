"""The policy pack ships on its own with a copy of trainctl's words: the copy must stay equal to the original."""

from __future__ import annotations

from orchestrator import vocabulary
from orchestrator.policy.pack import load_module
from orchestrator.vocabulary import Tag


def test_pack_tag_keys_equal_trainctl_tag_keys() -> None:
    """Every tag key the pack names is the same string trainctl puts on resources."""
    common = load_module("_common")
    assert common.JOB_ID_TAG == Tag.JOB_ID
    assert common.JOB_NAME_TAG == Tag.JOB_NAME
    assert common.TEAM_TAG == Tag.TEAM
    assert common.OWNER_TAG == Tag.OWNER
    assert common.COST_CENTER_TAG == Tag.COST_CENTER
    assert common.MANAGED_BY_TAG == Tag.MANAGED_BY
    assert set(common.JOB_TAGS) == set(vocabulary.REQUIRED_TAGS)


def test_pack_manifest_kind_equals_trainctl_manifest_kind() -> None:
    """The pack recognises the manifest trainctl declares by the same kind."""
    assert load_module("_common").MANIFEST_KIND == vocabulary.MANIFEST_KIND


def test_required_tags_policy_requires_the_tags_trainctl_sets() -> None:
    """required-tags asks, by default, for exactly the tags every job carries."""
    assert set(load_module("required_tags").JOB_TAGS) == set(vocabulary.REQUIRED_TAGS)
