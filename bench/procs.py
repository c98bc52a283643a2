"""Processes of a benchmark run: start them in their own process groups, stop them all, and
account their CPU time and peak memory from /proc.

CPU is read from ``/proc/<pid>/stat`` (utime + stime) of every process of a group, sampled
about once a second; a process that appears during the window counts from zero, one that
exits keeps its last sample (so at most one sampling interval of a short-lived process is
missed). Peak RSS is the kernel's ``VmHWM`` (high-water mark) of each process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcStat:
    pid: int
    ppid: int
    cpu_ticks: int
    start_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_ticks=int(fields[19]),
    )


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is not None:
            children.setdefault(stat.ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found if read_stat(root) else found - {root}


def postgres_pids(postmaster: int, database: str) -> set[int]:
    """The server processes working for ``database``: its backends (their title names the
    database), autovacuum workers on it, and the shared background processes (WAL writer,
    checkpointer, background writer). Backends of other databases are left out."""
    shared = ("checkpointer", "background writer", "walwriter", "autovacuum launcher")
    found = set()
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is None or stat.ppid != postmaster:
            continue
        title = cmdline(pid)
        words = title.split()
        if database in words or any(name in title for name in shared):
            found.add(pid)
    return found


@dataclass
class Group:
    """A named set of processes whose CPU and memory are added up."""

    name: str
    pids: Callable[[], set[int]]
    counted: bool = True  # part of healthmon's total (the target and load tools are not)
    baseline: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    peak_kib: dict[int, int] = field(default_factory=dict)
    window_start_ticks: int | None = None

    def sample(self, *, in_window: bool) -> None:
        for pid in self.pids():
            stat = read_stat(pid)
            if stat is None:
                continue
            self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), peak_rss_kib(pid))
            if in_window:
                if pid not in self.baseline:
                    # Started during the window: all its CPU time is the window's.
                    started_before = (
                        self.window_start_ticks is not None
                        and stat.start_ticks < self.window_start_ticks
                    )
                    self.baseline[pid] = stat.cpu_ticks if started_before else 0
                self.last[pid] = stat.cpu_ticks

    def start_window(self, boot_ticks: int) -> None:
        self.window_start_ticks = boot_ticks
        self.baseline.clear()
        self.last.clear()
        for pid in self.pids():
            stat = read_stat(pid)
            if stat is not None:
                self.baseline[pid] = self.last[pid] = stat.cpu_ticks

    @property
    def cpu_seconds(self) -> float:
        return sum(self.last[pid] - self.baseline.get(pid, 0) for pid in self.last) / CLOCK_TICKS

    @property
    def peak_rss_mib(self) -> float:
        return sum(self.peak_kib.values()) / 1024

    @property
    def processes(self) -> int:
        return len(self.peak_kib)


def uptime_ticks() -> int:
    """Now, in the clock ticks since boot that /proc/<pid>/stat's starttime uses."""
    return int(float(Path("/proc/uptime").read_text().split()[0]) * CLOCK_TICKS)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Managed:
    name: str
    popen: subprocess.Popen
    log_path: Path


class ProcessSet:
    """Children started in their own process groups, so stopping one stops its tree."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Managed] = []

    def start(self, name: str, argv: list[str], *, env: dict, cwd: Path, stdout=None) -> Managed:
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("w")
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=stdout if stdout is not None else log,
            stderr=log if stdout is not None else subprocess.STDOUT,
            start_new_session=True,
        )
        managed = Managed(name, popen, log_path)
        self.children.append(managed)
        return managed

    def check_alive(self) -> None:
        for child in self.children:
            code = child.popen.poll()
            if code is not None:
                tail = child.log_path.read_text()[-3000:]
                raise RuntimeError(f"{child.name} exited with {code}; log tail:\n{tail}")

    def stop_all(self, timeout: float = 20.0) -> None:
        """SIGTERM every group (warm shutdown), then SIGKILL what is left."""
        for child in reversed(self.children):
            _signal_group(child.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=remaining)
            # Whatever the group still holds (pool children, gunicorn workers) goes too.
            _signal_group(child.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=5)
        self.children.clear()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_for_log(managed: Managed, needle: str, *, timeout: float, processes: ProcessSet) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        if needle in managed.log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{managed.name} did not log {needle!r} within {timeout:g}s")
