"""Test doubles and helpers that several test modules share (kept in the package so that the engine's
dynamic-provider process can import them by reference)."""
