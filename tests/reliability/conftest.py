"""Reliability suites print their trial tables in pytest's terminal summary."""

from __future__ import annotations

from typing import Any

TABLES: dict[str, list[str]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for title, lines in TABLES.items():
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)
