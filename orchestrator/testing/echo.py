"""A minimal dynamic provider for engine smoke tests: it records its inputs in a file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class EchoProvider(ResourceProvider):
    """Writes ``message`` to ``path`` on create; deletes the file on delete."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        path = Path(props["path"])
        path.write_text(json.dumps({"message": props["message"]}))
        return CreateResult(id_=uuid.uuid4().hex, outs={**props, "length": len(props["message"])})

    def delete(self, id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class Echo(Resource):
    """A resource whose only effect is a file holding ``message``."""

    length: Output[int]

    def __init__(self, name: str, path: Input[str], message: Input[str], opts: ResourceOptions | None = None) -> None:
        super().__init__(EchoProvider(), name, {"path": path, "message": message, "length": None}, opts)
