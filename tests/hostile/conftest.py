"""Print the size of the hostile-input table at the end of every run that collects it."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.hostile.cases import CASES

    terminalreporter.write_line(f"hostile-input cases: {len(CASES)}")
