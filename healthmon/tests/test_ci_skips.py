"""ci_skips (loaded by /conftest.py): under CI=true a skip fails the run unless it is expected.

Each test runs pytest in a subprocess on a tiny test file, with only that plugin loaded.
"""

from __future__ import annotations

import pytest

from conftest import ROOT

SKIPPING_TESTS = """
import pytest

def test_passes():
    pass

def test_needs_a_tool():
    pytest.skip("promtool (Debian: prometheus)")

@pytest.mark.skipif(True, reason="needs Chromium")
def test_needs_a_browser():
    pass
"""


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch):
    """Run pytest on ``source`` with ``CI`` set to ``ci`` (or unset); returns the result."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))

    def run(source: str, *, ci: str | None) -> pytest.RunResult:
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        pytester.makepyfile(test_sample=source)
        return pytester.runpytest_subprocess(
            "-p", "ci_skips", "-p", "no:django", "-p", "no:cacheprovider"
        )

    return run


def test_under_ci_a_skipped_test_fails_the_run_and_is_listed_with_its_reason(run):
    result = run(SKIPPING_TESTS, ci="true")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*skipped in CI (each one is a failure)*",
            "SKIPPED test_sample.py::test_needs_a_tool: promtool (Debian: prometheus)",
            "SKIPPED test_sample.py::test_needs_a_browser: needs Chromium",
            "2 unexpected skip(s)*",
        ]
    )


def test_under_ci_a_skip_marked_expected_passes(run):
    result = run(
        """
import pytest

@pytest.mark.expected_skip(reason="the skip is the point")
def test_skips_on_purpose():
    pytest.skip("by design")
""",
        ci="true",
    )

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(skipped=1)
    result.stdout.no_fnmatch_line("*unexpected skip*")


def test_under_ci_a_module_skipped_while_collecting_fails_the_run(run):
    result = run(
        """
import pytest

pytest.importorskip("a_module_nobody_installed")

def test_never_collected():
    pass
""",
        ci="true",
    )

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED test_sample.py: could not import*"])


def test_under_ci_an_expected_failure_is_not_a_skip(run):
    result = run(
        """
import pytest

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False
""",
        ci="true",
    )

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(xfailed=1)


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_skips_stay_skips(run, ci):
    result = run(SKIPPING_TESTS, ci=ci)

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.no_fnmatch_line("*unexpected skip*")
