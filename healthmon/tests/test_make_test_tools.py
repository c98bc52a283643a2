"""`make test` on a fresh machine: a missing Chromium or promtool stops it in one line that
names the Debian packages, instead of tests failing or skipping."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "make"


def check_tools(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MAKE, "-s", "check-test-tools", *args],
        cwd=ROOT,
        env={"PATH": str(bin_dir)},  # nothing but what the test puts there
        capture_output=True,
        text=True,
        timeout=30,
    )


def fake_tool(bin_dir: Path, name: str) -> None:
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)


def test_missing_chromium_and_promtool_stop_make_test_in_one_line(tmp_path):
    done = check_tools(tmp_path)

    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line.endswith(
        "make test needs the Debian package(s) prometheus chromium: "
        "sudo apt-get install -y prometheus chromium.  Stop."
    )


def test_without_the_browser_tests_only_promtool_is_needed(tmp_path):
    fake_tool(tmp_path, "promtool")

    done = check_tools(tmp_path, "PYTEST_ARGS=-m 'not browser'")

    assert (done.returncode, done.stderr) == (0, "")


def test_with_both_tools_make_test_goes_on(tmp_path):
    fake_tool(tmp_path, "promtool")
    fake_tool(tmp_path, "chromium")

    done = check_tools(tmp_path)

    assert (done.returncode, done.stderr) == (0, "")
