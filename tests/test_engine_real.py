"""The REAL Pulumi engine, offline: file backend, inline program, dynamic provider, up and destroy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.settings import get_settings

pytestmark = pytest.mark.engine


def test_inline_program_with_dynamic_provider_up_outputs_destroy(tmp_path: Path) -> None:
    """up creates the resource (a file), outputs come back, destroy removes it, state is empty."""
    import pulumi

    from orchestrator.engine.automation import Workspace
    from orchestrator.engine.jobstack import JobStack
    from orchestrator.testing.echo import Echo

    target = tmp_path / "echo.txt"

    def program() -> None:
        echo = Echo("greeting", path=str(target), message="hello engine")
        pulumi.export("length", echo.length)

    settings = get_settings()
    workspace = Workspace(settings)
    with JobStack.create(workspace, "smoke-test", program) as stack:
        outputs = stack.up()
        assert outputs["length"] == len("hello engine")
        assert json.loads(target.read_text()) == {"message": "hello engine"}
        types = [r["type"] for r in stack.resources()]
        assert "pulumi-python:dynamic:Resource" in types
        state_dir = Path(settings.state_url.removeprefix("file://"))
        assert (state_dir / ".pulumi" / "stacks" / "trainctl" / "smoke-test.json").is_file()

        stack.destroy()
        assert not target.exists()
        left = stack.resources()
    assert [r["type"] for r in left if r["type"] != "pulumi:pulumi:Stack"] == []
    workspace.remove_stack("smoke-test")
    assert [s.name for s in workspace.list_stacks()] == []
