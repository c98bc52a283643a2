"""The raw ceiling of a protocol's client: the bare client in a gevent pool, nothing else.

Each operation opens a fresh connection, exactly like a healthmon check, so the figure is
what the same client library can do against the same target with no scheduling, database or
broker around it. The HTTP one (plain ``requests``) is the reference every CPU figure of the
benchmarks is divided by, so figures carry over between machines; the others are the
comparable bare client of each monitor kind (``--kind``):

    http   requests.get(url + n), body read
    api    requests.post(login) -> token from the JSON, requests.get(orders, Bearer token)
    tcp    connect, send a line, read until it is echoed back, close
    tls    connect, TLS handshake (no verification), read the peer certificate, close
    dns    one UDP query with dnspython (an A record of m<n>.<zone>)
    icmp   lib.icmp.ping: ``--count`` echo requests ``--ping-interval`` apart, all replies

Prints one JSON line:
``{"kind": k, "requests": n, "errors": n, "seconds": s, "per_second": r, "cpu_ms_per_request": c}``.

    python -m bench.ceiling --url http://127.0.0.1:PORT/m/ --concurrency 100 --seconds 10
    python -m bench.ceiling --kind tcp --host 127.0.0.1 --port PORT --seconds 5
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import gevent  # noqa: E402
import requests  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from bench.target import LOGIN_PASSWORD  # noqa: E402

KINDS = ("http", "api", "tcp", "tls", "dns", "icmp")
TIMEOUT = 5.0
ECHO_LINE = b"healthmon-bench\r\n"
# What bench.target's /login accepts; the api monitors of bench.kinds send the same.
LOGIN_BODY = {"user": "probe", "password": LOGIN_PASSWORD}


class Failed(Exception):
    """An operation got an answer that is not the expected one."""


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def operation(args: argparse.Namespace) -> Callable[[int], None]:
    """One check's worth of client work for ``args.kind``; raises on failure."""
    if args.kind == "http":

        def http(n: int) -> None:
            response = requests.get(f"{args.url}{n}", timeout=TIMEOUT)
            response.content  # noqa: B018 - read the body like a check does

        return http
    if args.kind == "api":

        def api(n: int) -> None:
            login = requests.post(f"{args.url}/login", json=LOGIN_BODY, timeout=TIMEOUT)
            token = login.json()["token"]
            orders = requests.get(
                f"{args.url}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
            )
            if orders.status_code != 200 or orders.json().get("count") != 2:
                raise Failed(orders.status_code)

        return api
    if args.kind == "tcp":

        def tcp(n: int) -> None:
            with socket.create_connection((args.host, args.port), timeout=TIMEOUT) as sock:
                sock.sendall(ECHO_LINE)
                received = b""
                while ECHO_LINE not in received:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise Failed("closed before the echo")
                    received += chunk

        return tcp
    if args.kind == "tls":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

        def tls(n: int) -> None:
            raw = socket.create_connection((args.host, args.port), timeout=TIMEOUT)
            with raw, context.wrap_socket(raw, server_hostname=args.host) as sock:
                if not sock.getpeercert(binary_form=True):
                    raise Failed("no certificate")

        return tls
    if args.kind == "dns":

        def query(n: int) -> None:
            message = dns.message.make_query(f"m{n}.{args.zone}", "A")
            response = dns.query.udp(message, args.host, port=args.port, timeout=TIMEOUT)
            if not response.answer:
                raise Failed("no answer")

        return query
    if args.kind == "icmp":
        # lib.icmp is healthmon's own socket code (there is no client library to compare
        # with); its guard reads one setting, BLOCKED_NETWORKS, which blocks metadata only here.
        from django.conf import settings

        from lib.outbound import METADATA_NETWORKS

        settings.configure(BLOCKED_NETWORKS=list(METADATA_NETWORKS))
        from lib import icmp

        def ping(n: int) -> None:
            result = icmp.ping(
                args.host,
                count=args.count,
                interval=args.ping_interval,
                deadline=time.monotonic() + TIMEOUT,
            )
            if len(result.round_trips_ms) < args.count:
                raise Failed("lost pings")

        return ping
    raise SystemExit(f"unknown kind {args.kind!r}")


def measure(op: Callable[[int], None], *, concurrency: int, seconds: float) -> dict:
    counter = itertools.count()
    done = 0
    errors = 0
    deadline = time.monotonic() + seconds

    def loop() -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                op(next(counter))
                done += 1
            except (OSError, ValueError, KeyError, Failed, dns.exception.DNSException):
                errors += 1  # requests' errors are OSErrors; a bad JSON body a ValueError

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
    parser = argparse.ArgumentParser(description="Raw client ceiling of a protocol (gevent)")
    parser.add_argument("--kind", choices=KINDS, default="http")
    parser.add_argument("--url", help="http: prefix, a counter is appended; api: base URL")
    parser.add_argument("--host", default="127.0.0.1", help="tcp, tls, dns, icmp")
    parser.add_argument("--port", type=int, help="tcp, tls, dns")
    parser.add_argument("--zone", default="bench.test", help="dns: names asked are m<n>.<zone>")
    parser.add_argument("--count", type=int, default=3, help="icmp: pings per operation")
    parser.add_argument("--ping-interval", type=float, default=0.2, help="icmp: seconds apart")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.kind in ("http", "api") and not args.url:
        parser.error(f"--kind {args.kind} needs --url")
    if args.kind in ("tcp", "tls", "dns") and not args.port:
        parser.error(f"--kind {args.kind} needs --port")
    op = operation(args)
    gevent.get_hub()  # create the hub before timing
    figures = measure(op, concurrency=args.concurrency, seconds=args.seconds)
    print(json.dumps({"kind": args.kind, **figures}))


if __name__ == "__main__":
    main()
