"""The pack in the REAL engine on the local target: it runs in preview and up, blocks up with exit 3, agrees with check."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.compile import CompiledJob, compile_job
from orchestrator.errors import ExitCode, PolicyViolationError
from orchestrator.jobs.records import JobPrices
from orchestrator.policy import PolicyCollector, check_plan, engine_policy_args, load_config
from orchestrator.settings import get_settings
from orchestrator.spec.loader import load_spec
from orchestrator.testing.inspect import job_processes, live_resources
from tests.conftest import write_job

pytestmark = pytest.mark.engine

JOB_ID = "policy-test-a1b2"
LOCAL_RESOURCES = {"job-manifest", "workdir", "artifacts", "training"}
Verdicts = set[tuple[str, str, str]]


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompiledJob:
    """A local job running the test trainer for ~20s, priced at 2 USD/hour (TRAINCTL_LOCAL_HOURLY_USD)."""
    monkeypatch.setenv("TRAINCTL_LOCAL_HOURLY_USD", "2")
    monkeypatch.setenv("TRAINCTL_GRACE_PERIOD_S", "2")
    get_settings.cache_clear()
    settings = get_settings()
    loaded = load_spec(write_job(tmp_path, "policy-test", steps=200, extra="limits:\n  max_runtime: 10m\n"))
    return compile_job(loaded, JOB_ID, settings, prices=JobPrices(hourly_usd=settings.local_hourly_usd), read_env=False)


@pytest.fixture
def stack(job: CompiledJob) -> Iterator[Any]:
    """The job's stack (manifest declared first, then the local target's resources); destroyed and removed after."""
    from orchestrator.engine.automation import Workspace
    from orchestrator.engine.jobstack import JobStack

    workspace = Workspace(get_settings())
    with JobStack.create(workspace, JOB_ID, program(job)) as created:
        created.configure(job.stack_config(), job.secret_config(), tags=job.tags)
        try:
            yield created
        finally:
            created.destroy()
            workspace.remove_stack(JOB_ID)


def program(job: CompiledJob) -> Callable[[], None]:
    """The local target's program with the job manifest declared first."""
    from orchestrator.targets.local.target import LocalTarget
    from orchestrator.targets.manifest import declare_manifest

    inner = LocalTarget().program(job)

    def declare() -> None:
        declare_manifest(job)
        inner()

    return declare


def config_file(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "team-policy.json"
    path.write_text(json.dumps(document))
    return path


def engine_verdicts(operation: str, stack: Any, job: CompiledJob, config: Path) -> tuple[Verdicts, PolicyViolationError | None]:
    """Run preview/up with the pack; (policy, level, resource) of every violation, and the policy error if it blocked."""
    from orchestrator.errors import TrainctlError

    packs, configs = engine_policy_args(config, team=job.spec.team)
    collector = PolicyCollector()
    blocked: PolicyViolationError | None = None
    try:
        getattr(stack, operation)(on_event=collector, policy_packs=packs, policy_configs=configs)
        collector.check()
    except TrainctlError as e:
        with pytest.raises(PolicyViolationError) as caught:
            collector.check(e)
        blocked = caught.value
    return {(v.policy, v.enforcement, v.resource) for v in collector.violations()}, blocked


def offline_verdicts(job: CompiledJob, config: Path) -> Verdicts:
    """What `trainctl check` finds: the same program planned offline, the same config."""
    from orchestrator.lifecycle.offline_plan import offline_plan

    found = check_plan(offline_plan(job, program(job)), load_config(config), team=job.spec.team)
    return {(v.policy, v.enforcement, v.resource) for v in found}


def test_pack_runs_in_preview_and_up_and_advisory_violations_do_not_block(
    stack: Any, job: CompiledJob, tmp_path: Path, trainctl_home: Path
) -> None:
    """An advisory owner-domain rule is reported on every resource in preview and in up; up allocates anyway."""
    config = config_file(
        tmp_path, {"required-tags": {"enforcementLevel": "advisory", "values": {"trainctl:owner": ["*@corp.example"]}}}
    )
    expected = {("required-tags", "advisory", name) for name in LOCAL_RESOURCES}
    previewed, blocked = engine_verdicts("preview", stack, job, config)
    assert blocked is None and previewed == expected
    assert offline_verdicts(job, config) == previewed
    applied, blocked = engine_verdicts("up", stack, job, config)
    assert blocked is None and applied == expected
    assert sorted(live_resources(trainctl_home, JOB_ID)) == ["pulumi-python:dynamic:Resource"] * 4


def test_hourly_cap_below_the_local_price_blocks_up_with_nothing_allocated(
    stack: Any, job: CompiledJob, tmp_path: Path, trainctl_home: Path
) -> None:
    """A 1 USD/hour cap under the 2 USD/hour local price: preview and up refuse (exit 3); no resource, dir or process exists."""
    config = config_file(tmp_path, {"max-hourly-cost": {"maxUsd": 1}})
    previewed, blocked = engine_verdicts("preview", stack, job, config)
    assert blocked is not None and previewed == {("max-hourly-cost", "mandatory", "job-manifest")}
    assert offline_verdicts(job, config) == previewed
    applied, blocked = engine_verdicts("up", stack, job, config)
    assert blocked is not None and blocked.exit_code == ExitCode.POLICY_BLOCKED
    assert applied == {("max-hourly-cost", "mandatory", "job-manifest")}
    [line] = blocked.details
    assert line.startswith("max-hourly-cost [mandatory] job-manifest: 2.00 USD/hour") and "(fix: " in line
    assert live_resources(trainctl_home, JOB_ID) == []
    assert not job.run_dir.exists() and not job.artifacts_dir.exists() and job_processes(JOB_ID) == []


def test_required_tag_value_blocks_up_and_check_agrees(stack: Any, job: CompiledJob, tmp_path: Path, trainctl_home: Path) -> None:
    """A mandatory owner-domain rule: preview flags every resource (as check does); up stops at the manifest."""
    config = config_file(tmp_path, {"required-tags": {"values": {"trainctl:owner": ["*@corp.example"]}}})
    previewed, blocked = engine_verdicts("preview", stack, job, config)
    assert blocked is not None and previewed == {("required-tags", "mandatory", name) for name in LOCAL_RESOURCES}
    assert offline_verdicts(job, config) == previewed
    applied, blocked = engine_verdicts("up", stack, job, config)
    assert blocked is not None and applied == {("required-tags", "mandatory", "job-manifest")}
    assert "tester@example.com" in blocked.details[0] and "*@corp.example" in blocked.details[0]
    assert live_resources(trainctl_home, JOB_ID) == [] and not job.run_dir.exists()


def test_unresolved_config_carries_team_overrides_the_pack_applies(stack: Any, job: CompiledJob, tmp_path: Path) -> None:
    """Without a team, the engine accepts each policy's 'teams' property (schema) and the pack applies the job team's cap."""
    config = config_file(tmp_path, {"max-hourly-cost": {"maxUsd": 1}, "teams": {"test-team": {"max-hourly-cost": {"maxUsd": 5}}}})
    packs, configs = engine_policy_args(config)
    assert "teams" in json.loads(Path(configs[0]).read_text())["max-hourly-cost"]
    collector = PolicyCollector()
    stack.preview(on_event=collector, policy_packs=packs, policy_configs=configs)
    assert collector.check() == []
