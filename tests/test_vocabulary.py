"""The vocabulary module decides trainctl's shared words; these pin what its users rely on."""

from __future__ import annotations

import subprocess
import sys

from orchestrator.compile import job_tags
from orchestrator.spec.models import JobSpec
from orchestrator.vocabulary import (
    ACTIVE_STATES,
    FINAL_STATES,
    REQUIRED_TAGS,
    RUN_ALIVE,
    RUN_ENDED,
    UNFINISHED_STATES,
    JobState,
    RunState,
    Tag,
)


def _spec(**extra: object) -> JobSpec:
    return JobSpec.model_validate({"name": "resnet", "team": "vision", "owner": "a@b.c", "code": {"run": "true"}, **extra})


def test_every_job_state_is_unfinished_or_final() -> None:
    """Each job state is either unfinished (up resumes it) or final, never both."""
    assert set(JobState) == UNFINISHED_STATES | FINAL_STATES
    assert not UNFINISHED_STATES & FINAL_STATES
    assert ACTIVE_STATES < UNFINISHED_STATES
    assert JobState.BLOCKED in FINAL_STATES


def test_every_run_state_is_alive_or_ended() -> None:
    """Each run state a target observes is either alive or ended, never both."""
    assert set(RunState) == RUN_ALIVE | RUN_ENDED
    assert not RUN_ALIVE & RUN_ENDED


def test_job_tags_use_the_vocabulary_keys() -> None:
    """A job without cost_center carries exactly the required tags and its backend's id; with one, the cost-center tag too."""
    assert set(job_tags(_spec(), "resnet-abc123", "0123456789ab")) == {*REQUIRED_TAGS, Tag.BACKEND}
    tags = job_tags(_spec(cost_center="cc-1"), "resnet-abc123", "0123456789ab")
    assert tags[Tag.BACKEND] == "0123456789ab"
    assert tags[Tag.COST_CENTER] == "cc-1"
    assert tags[Tag.MANAGED_BY] == "trainctl"
    assert all(type(key) is str for key in tags)  # plain strings towards the engine and AWS


def test_vocabulary_is_light() -> None:
    """Importing the vocabulary pulls in no third-party package (it is on every path, `--help` included)."""
    heavy = "('pydantic', 'pulumi', 'boto3', 'click')"
    code = f"import sys, orchestrator.vocabulary; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
