"""The raw ceiling of the HTTP client: plain ``requests`` in a gevent pool, nothing else.

Each request opens a fresh connection (``requests.get`` makes a new session), exactly like
a healthmon check, so the figure is what the same client library can do against the same
target with no scheduling, database or broker around it. Prints one JSON line:
``{"requests": n, "errors": n, "seconds": s, "per_second": r, "cpu_ms_per_request": c}``.

    python -m bench.ceiling --url http://127.0.0.1:PORT/m/ --concurrency 100 --seconds 10
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402
from gevent.pool import Pool  # noqa: E402


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(url: str, *, concurrency: int, seconds: float) -> dict:
    counter = itertools.count()
    done = 0
    errors = 0
    deadline = time.monotonic() + seconds

    def loop() -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{url}{next(counter)}", timeout=5)
                response.content  # noqa: B018 - read the body like a check does
                done += 1
            except requests.RequestException:
                errors += 1

    pool = Pool(concurrency)
    cpu_before = _cpu_seconds()
    started = time.monotonic()
    for _ in range(concurrency):
        pool.spawn(loop)
    pool.join()
    elapsed = time.monotonic() - started
    cpu = _cpu_seconds() - cpu_before
    return {
        "requests": done,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "per_second": round(done / elapsed, 1) if elapsed else 0.0,
        "cpu_ms_per_request": round(cpu * 1000 / done, 3) if done else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Raw HTTP client ceiling (gevent + requests)")
    parser.add_argument("--url", required=True, help="prefix; a counter is appended")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    gevent.get_hub()  # create the hub before timing
    print(json.dumps(measure(args.url, concurrency=args.concurrency, seconds=args.seconds)))


if __name__ == "__main__":
    main()
