"""Summarise a ``py-spy record --format raw`` profile: where the CPU time goes.

    python -m bench.profile_summary bench/out/scale-.../profile-checks.txt [--top 40]

Prints the functions with the most samples, inclusive (the function and what it calls) and
self (the function's own code), as percentages of all samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def summarise(path: Path, *, top: int, match: str | None = None) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        if match and not any(match in frame for frame in frames):
            continue
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    lines = [f"{path}: {total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"-- top {top} {title}")
        for frame, samples in counter.most_common(top):
            lines.append(f"{samples / total * 100:6.1f}%  {frame[:150]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default=None, help="only stacks with a frame containing this")
    args = parser.parse_args()
    print(summarise(args.profile, top=args.top, match=args.match))


if __name__ == "__main__":
    main()
