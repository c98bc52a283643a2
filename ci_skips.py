"""pytest plugin (loaded by /conftest.py): under CI, a skipped test fails the session.

A skip in CI almost always means something CI should have had and did not — promtool,
Chromium, PostgreSQL, Redis — and a green run with the tests quietly missing is how a
regression gets in. So when ``CI=true`` (``.ci/run`` sets it) every skip is listed at the end
and the session exits non-zero, unless the test says the skip is the point::

    @pytest.mark.expected_skip(reason="why CI may skip this")

Outside CI, skips stay skips: a developer without Chromium can still run the rest.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

MARKER = "expected_skip"
# Exit statuses that would hide a skip: all ran (or all were skipped), or nothing was collected.
LOOKS_GREEN = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


class SkipGuard:
    def __init__(self) -> None:
        self.unexpected: list[tuple[str, str]] = []  # (test id, skip reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if _skipped(report) and item.get_closest_marker(MARKER) is None:
            self.unexpected.append((item.nodeid, _reason(report)))
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A whole module skipped while collecting (importorskip, allow_module_level).
        if report.skipped:
            self.unexpected.append((report.nodeid, _reason(report)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unexpected and session.exitstatus in LOOKS_GREEN:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unexpected:
            return
        terminalreporter.section("skipped in CI (each one is a failure)", sep="=", red=True)
        for nodeid, reason in self.unexpected:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
        terminalreporter.line(
            f"{len(self.unexpected)} unexpected skip(s): install what they need in .ci/run, "
            f"or mark a test @pytest.mark.{MARKER}(reason=...) if skipping it is the point."
        )


def _skipped(report: pytest.TestReport) -> bool:
    return report.skipped and not hasattr(report, "wasxfail")  # xfail is reported apart


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    if isinstance(report.longrepr, tuple):  # (path, line, "Skipped: reason")
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(reason): CI may skip this test; any other skip fails a CI run"
    )
    if in_ci():
        config.pluginmanager.register(SkipGuard(), "ci-skip-guard")
