"""The words trainctl's parts and its stored data share: tag keys, job and run states, the manifest kind,
stack config keys and lock names. Each is decided here and read from here (the policy pack, which ships on
its own, keeps a copy of the tag keys and the manifest kind that a test pins equal).

A light module: standard library only, safe on every path (`--help`, `validate`, the policy analyzer).
"""

from __future__ import annotations

from enum import StrEnum

PRODUCT = "trainctl"


class Tag(StrEnum):
    """The tags on every taggable resource and on the job's stack (docs/aws.md lists them for users)."""

    JOB_ID = "trainctl:job-id"
    JOB_NAME = "trainctl:job-name"
    TEAM = "trainctl:team"
    OWNER = "trainctl:owner"
    COST_CENTER = "trainctl:cost-center"  # only when the spec sets cost_center
    MANAGED_BY = "trainctl:managed-by"  # always MANAGED_BY_VALUE
    BACKEND = "trainctl:backend"  # the id of the backend holding the job's stack (orchestrator/jobs/backend.py)
    SWEEP_ID = "trainctl:sweep-id"  # only on the jobs of a `trainctl sweep` (orchestrator/sweep/)


MANAGED_BY_VALUE = PRODUCT
# The tags that every job carries (COST_CENTER is optional).
REQUIRED_TAGS: tuple[Tag, ...] = (Tag.JOB_ID, Tag.JOB_NAME, Tag.TEAM, Tag.OWNER, Tag.MANAGED_BY)
# The tags that attribute cost (Cost Explorer cost allocation tags).
COST_TAGS: tuple[Tag, ...] = (Tag.JOB_ID, Tag.JOB_NAME, Tag.TEAM, Tag.OWNER, Tag.COST_CENTER)


class JobState(StrEnum):
    """Where a job stands in its record (``trainctl ls``)."""

    PROVISIONING = "provisioning"  # `up` is allocating its stack
    RUNNING = "running"  # allocated; its run has started
    INTERRUPTED = "interrupted"  # stopped before it ended (signal, preemption, crash): `up` resumes it
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the training command failed, or trainctl gave up on it
    CANCELLED = "cancelled"  # stopped on purpose (`cancel`, `down`)
    BLOCKED = "blocked"  # refused by a mandatory policy: nothing was allocated, nothing ran


ACTIVE_STATES = frozenset({JobState.PROVISIONING, JobState.RUNNING})
UNFINISHED_STATES = frozenset({*ACTIVE_STATES, JobState.INTERRUPTED})
FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED})


class RunState(StrEnum):
    """What a target observes of a job's run (the agent's status, or what the cloud says is left of it)."""

    PROVISIONING = "provisioning"  # allocated, but the agent has written no status yet (agent_start_timeout_s)
    STARTING = "starting"  # the agent is up; setup or the first start of the command is under way
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the command exited 0
    FAILED = "failed"  # the command failed (after max_failures retries)
    STOPPED = "stopped"  # stopped before it ended: a signal, a limit, a spot preemption
    GONE = "gone"  # nothing is left to ask: the agent or its machine died without a final status


# Not ended: a run whose agent has not reported yet counts as alive until agent_start_timeout_s.
RUN_ALIVE = frozenset({RunState.PROVISIONING, RunState.STARTING, RunState.RUNNING})
RUN_ENDED = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.STOPPED, RunState.GONE})
# A run that ended on its own ends its job the same way.
RUN_OUTCOMES = {RunState.SUCCEEDED: JobState.SUCCEEDED, RunState.FAILED: JobState.FAILED}

# The job manifest (orchestrator/targets/manifest.py): the resource kind policies recognise it by.
MANIFEST_KIND = "trainctl:job"


CONFIG_NAMESPACE = PRODUCT


class StackConfig(StrEnum):
    """The names of a job stack's config in the ``trainctl`` namespace (a program reads them with
    ``pulumi.Config(CONFIG_NAMESPACE)``; the full key is ``config_key(name)``)."""

    JOB_ID = "jobId"
    SPEC = "spec"  # the normalized spec, JSON
    SPEC_PATH = "specPath"
    SOURCE_DIR = "sourceDir"
    SECRETS = "secrets"  # secret: name -> value, JSON
    OFFLINE = "offline"  # "true" in an offline plan: the program asks no cloud anything


def config_key(name: StackConfig) -> str:
    """The full stack config key of ``name`` (``trainctl:jobId``)."""
    return f"{CONFIG_NAMESPACE}:{name.value}"


class LockOp(StrEnum):
    """The operation a lock holder names (``$TRAINCTL_HOME/locks/*.lock``), shown to whoever it refuses."""

    UP = "up"
    RELAUNCH = "relaunch"
    TEAR_DOWN = "tear down"
    RECOVER = "recover"
    WATCH = "watch"
    SWEEP = "sweep"


def job_lock_key(job_id: str) -> str:
    """The lock every operation on one job takes."""
    return job_id


def name_lock_key(name: str, point: str | None = None) -> str:
    """The lock `up` takes on a job name while it picks the job to resume or creates one; the jobs of a
    sweep's points (``point``: ``SweepMember.point_digest``) each have their own, so points launch at once."""
    return f"name-{name}" if point is None else f"name-{name}-{point}"


def sweep_lock_key(sweep_id: str) -> str:
    """The lock the one process launching a sweep's jobs holds (`trainctl sweep`, attached or detached)."""
    return f"sweep-{sweep_id}"


def watch_lock_key(job_id: str) -> str:
    """The lock a detached job's watcher holds for as long as it watches."""
    return f"watch-{job_id}"
