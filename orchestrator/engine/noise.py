"""Engine output that says nothing to a user: lines dropped from progress and from error messages.

When an update is cancelled or a program ends, the engine and the Python program host report their own
shutdown ("Resource monitor has terminated, shutting down", gRPC connection closing) as errors. They are
consequences, never causes: the line that explains what happened is elsewhere in the same output.
"""

from __future__ import annotations

ENGINE_NOISE = (
    "Resource monitor has terminated, shutting down",
    "the client connection is closing",
    "transport is closing",
    "error reading from server: EOF",
)


def is_engine_noise(line: str) -> bool:
    """True for an engine line that reports the engine's own shutdown, not a cause."""
    return any(fragment in line for fragment in ENGINE_NOISE)
