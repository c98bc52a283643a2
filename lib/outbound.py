"""All outbound connections are judged here: the checker, the webhook transport, and Apprise.

Why one module: a monitor URL or a channel URL is chosen by a user, so the server must not
become a way to reach what only it can reach (cloud metadata at 169.254.169.254, the
operator's private networks). The guard judges the numeric address each socket is about to
``connect()`` to, before it connects, so no DNS trick (a name resolving to a blocked address,
DNS rebinding between a check and the request, ``http://2130706434/`` for 127.0.0.2, a
redirect to such a name) can get around it, and no blocked port is ever probed. Every hop of
a redirect chain connects through the same guard; Apprise, which makes its own requests and
follows its own redirects, runs inside ``guarded_connections()``.

Interface (keep it small)::

    from lib import outbound

    try:
        response = outbound.fetch("POST", url, timeout=10, headers=headers, data=body)
        body, truncated = outbound.read_capped(response, 4096)
    except outbound.OutboundError as exc:
        exc.phase      # Phase.DNS, CONNECT, TLS, TIMEOUT, REQUEST or BLOCKED
        exc.reason     # "Connection refused by 127.0.0.1:8080", written for people
        exc.permanent  # the same request cannot succeed later (blocked network, bad URL)

- ``fetch(method, url, *, timeout, headers=None, data=None, follow_redirects=True,
  verify=True)`` sends one request, each hop on a fresh connection (connect and TLS time are
  part of what a check measures), and returns the response unread. A timeout is mandatory.
- ``read_capped(response, limit)`` reads at most ``limit`` body bytes, so a huge answer
  cannot exhaust memory; returns ``(body, truncated)``.
- Every response carries ``peer_address`` (the IP connected to) and ``tls_cert_der`` (the
  server certificate, DER, or None for plain HTTP), read at connect time because the socket
  is gone once the body is consumed.
- ``is_blocked_address(ip)`` answers whether an address falls in ``BLOCKED_NETWORKS``.
- ``with guarded_connections() as guard:`` judges every socket connect in the block (this
  thread or greenlet only); ``guard.refusal`` holds the first refused one.
- ``connect_tcp(host, port, *, timeout, tls=False, verify=True, server_name=None)`` opens a
  guarded raw TCP connection (optionally TLS; ``start_tls`` upgrades it later, for
  STARTTLS) for the monitor kinds that do not speak HTTP; ``resolve_guarded(host, port)``
  gives the judged address to send datagrams to (a user-given DNS resolver).

It is a thin client on urllib3, not a requests Session: building a Session, merging its
settings and its cookie jar cost ~1 ms of CPU per check, more than the HTTP exchange itself
(py-spy, bench/RESULTS.md). Each failure becomes an ``OutboundError`` where it happens (the
connection knows whether DNS, connect or TLS failed), never a chain of library exceptions
for callers to dig through.

Setting: ``BLOCKED_NETWORKS`` (env list of CIDRs; setting it replaces the default), by
default ``DEFAULT_BLOCKED_NETWORKS``: cloud metadata, link-local, loopback, private ranges,
CGNAT and unspecified addresses, the safe default for a shared install. A single-user install
that monitors its own LAN sets it to ``METADATA_NETWORKS`` (``make run`` does, and the tests
set it to that plus 127.0.0.2/32).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    InsecureRequestWarning,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util import make_headers, parse_url
from urllib3.util.ssl_ import create_urllib3_context
from urllib3.util.ssl_match_hostname import CertificateError

__all__ = [
    "DEFAULT_BLOCKED_NETWORKS",
    "LOCAL_NETWORKS",
    "MAX_REDIRECTS",
    "METADATA_NETWORKS",
    "USER_AGENT",
    "Connection",
    "Guard",
    "OutboundError",
    "Phase",
    "Response",
    "connect_tcp",
    "fetch",
    "guarded_connections",
    "is_blocked_address",
    "numeric_host",
    "read_capped",
    "resolve_guarded",
    "strips_credentials",
]

USER_AGENT = "healthmon/1.0 (+https://github.com/healthmon)"
MAX_REDIRECTS = 10

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")

# verify=False is an explicit per-monitor choice; a warning per check would flood the logs.
urllib3.disable_warnings(InsecureRequestWarning)


class Phase(StrEnum):
    """Where an outbound request failed; the values are those of ``monitors.CheckPhase``."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    REQUEST = "request"
    BLOCKED = "blocked"


class OutboundError(Exception):
    """The request got no usable answer: where it failed, and why, in words for people.

    Deliberately not an OSError: raised inside urllib3's connection, an OSError would be
    wrapped into urllib3's own exceptions; this one passes through untouched."""

    def __init__(self, phase: Phase, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.phase = phase
        self.reason = reason
        self.permanent = permanent


# --- The blocked-network guard -------------------------------------------------------------

# Where clouds serve instance credentials: AWS/GCP/Azure/OpenStack on link-local
# 169.254.169.254 (and AWS's IPv6 fd00:ec2::254), Alibaba on 100.100.100.200, Azure's
# wireserver on 168.63.129.16. Blocked even on a single-user install.
METADATA_NETWORKS = (
    "169.254.0.0/16",
    "fe80::/10",
    "100.100.100.200/32",
    "168.63.129.16/32",
    "fd00:ec2::254/128",
)
# What only the server can reach: loopback, private ranges, CGNAT, unspecified addresses.
# Blocked by default so a team on a shared install cannot probe the operator's networks.
LOCAL_NETWORKS = (
    "0.0.0.0/8",
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "::/128",
    "::1/128",
    "fc00::/7",
)
DEFAULT_BLOCKED_NETWORKS = METADATA_NETWORKS + LOCAL_NETWORKS


@lru_cache(maxsize=8)
def _parse_networks(spec: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _blocked_networks() -> tuple[IPNetwork, ...]:
    # Read on every call (cheap, cached by value) so override_settings works in tests.
    return _parse_networks(tuple(str(n) for n in settings.BLOCKED_NETWORKS))


def _matching_network(address: str) -> IPNetwork | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)  # ::ffff:169.254.169.254 is 169.254.169.254
    for network in _blocked_networks():
        if any(candidate in network for candidate in candidates):
            return network
    return None


def is_blocked_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is in one of the ``BLOCKED_NETWORKS``."""
    return _matching_network(address) is not None


class Guard:
    """One ``guarded_connections()`` scope; ``refusal`` is the first connection it refused,
    kept because code between the socket and the caller (Apprise's plugins) may swallow the
    exception."""

    def __init__(self) -> None:
        self.refusal: OutboundError | None = None


# The guard of the running thread or greenlet (gevent 20.12+ keeps a context per greenlet).
_active_guard: ContextVar[Guard | None] = ContextVar("outbound_guard", default=None)
_hook_lock = threading.Lock()


@contextmanager
def guarded_connections() -> Iterator[Guard]:
    """Judge every TCP/UDP ``connect()`` made in this block by ``BLOCKED_NETWORKS``.

    The check runs on the numeric address about to be connected to, before ``connect()``:
    whatever produced it (a name, DNS rebinding, ``2130706434`` or ``0x7f000002`` for
    127.0.0.2, a redirect) is judged by where it leads, and a blocked port is never probed.
    A refused connect raises ``OutboundError(Phase.BLOCKED)`` from the socket and is recorded
    on the yielded ``Guard``.

    Scope: this thread or greenlet, and threads started with a copy of its context (Apprise
    runs plugins that way). Other greenlets' connections are untouched: the database, the
    broker, the SMTP relay the operator configured.
    """
    _install_connect_hook()
    guard = Guard()
    token = _active_guard.set(guard)
    try:
        yield guard
    finally:
        _active_guard.reset(token)


def _install_connect_hook() -> None:
    """Wrap ``connect``/``connect_ex`` of the socket class in use (gevent's once it has
    patched the socket module). Outside a guarded block the wrapper only reads a ContextVar."""
    cls = socket.socket
    if getattr(cls.connect, "_outbound_guard", False):
        return
    with _hook_lock:
        if getattr(cls.connect, "_outbound_guard", False):
            return
        cls.connect = _guarding(cls.connect)  # type: ignore[method-assign]
        cls.connect_ex = _guarding(cls.connect_ex)  # type: ignore[method-assign]


def _guarding(connect: Callable[..., _T]) -> Callable[..., _T]:
    @functools.wraps(connect)
    def guarded(sock: socket.socket, address: Any) -> _T:
        guard = _active_guard.get()
        if guard is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            address = _judged(sock, address, guard)
        return connect(sock, address)

    guarded._outbound_guard = True  # type: ignore[attr-defined]
    return guarded


# The legacy IPv4 forms inet_aton reads: 2130706434, 0x7f000002, 0177.0.0.2, 127.2.
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)


def numeric_host(host: str) -> str:
    """``host`` as a dotted quad when it is a legacy numeric IPv4 form, else unchanged.

    glibc's resolver reads ``2130706434`` as 127.0.0.2, c-ares (the workers' resolver) sends
    it to DNS: read it here, the way browsers do, so it means the same address everywhere."""
    if not _LEGACY_IPV4.fullmatch(host):
        return host
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return host


def _judged(sock: socket.socket, address: tuple[Any, ...], guard: Guard) -> tuple[Any, ...]:
    """The numeric address to connect to, or OutboundError if it is blocked."""
    host, port, *rest = address
    host = numeric_host(str(host))
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        # A name: resolve once here and connect to exactly what was judged, so no second
        # lookup can answer differently.
        host, port, *rest = socket.getaddrinfo(host, port, sock.family, sock.type)[0][4]
    try:
        _refuse_blocked(host)
    except OutboundError as refusal:
        if guard.refusal is None:
            guard.refusal = refusal
        sock.close()  # callers clean up after OSError only; this is not one
        raise
    return (host, port, *rest)


def _refuse_blocked(address: str) -> None:
    """The guard itself: raise for an address in a blocked network. Every kind of outbound
    traffic (HTTP, raw TCP, TLS, DNS datagrams) calls this with the address it talks to."""
    network = _matching_network(address)
    if network is not None:
        raise OutboundError(
            Phase.BLOCKED,
            f"{address} is in a blocked network ({network}); "
            "healthmon does not connect there (setting BLOCKED_NETWORKS)",
            permanent=True,
        )


class _GuardedConnectionMixin:
    """Connects through ``guarded_connections()``; names what failed while connecting;
    remembers what the response needs."""

    host: str
    port: int
    timeout: float
    _dns_host: str
    peer_address: str | None = None
    tls_cert_der: bytes | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _new_conn(self) -> socket.socket:
        # urllib3 resolves _dns_host; a legacy numeric form must not reach a resolver.
        self._dns_host = numeric_host(self._dns_host)
        try:
            with guarded_connections():
                sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        # Most specific first: urllib3 2 derives NewConnectionError from ConnectTimeoutError.
        except NameResolutionError as exc:
            cause = exc.__cause__
            detail = getattr(cause, "strerror", None) or cause or exc
            raise OutboundError(Phase.DNS, f"DNS lookup failed for {self.host}: {detail}") from exc
        except NewConnectionError as exc:
            raise _connect_failure(exc.__cause__, self.where) from exc
        except ConnectTimeoutError as exc:
            raise OutboundError(
                Phase.TIMEOUT, f"Connect to {self.where} timed out after {self.timeout:g}s"
            ) from exc
        self.peer_address = sock.getpeername()[0]
        return sock


def _connect_failure(cause: BaseException | None, where: str) -> OutboundError:
    if isinstance(cause, ConnectionRefusedError):
        return OutboundError(Phase.CONNECT, f"Connection refused by {where}")
    detail = getattr(cause, "strerror", None) or str(cause)
    return OutboundError(Phase.CONNECT, f"Cannot connect to {where}: {detail}")


def _handshake_failure(exc: Exception, where: str, timeout: float | None) -> OutboundError:
    """A TLS handshake that failed, in words for people (HTTPS and raw TLS alike)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return OutboundError(Phase.TLS, f"TLS certificate not accepted: {detail}")
    if isinstance(exc, CertificateError):  # urllib3's own hostname match
        return OutboundError(Phase.TLS, f"TLS certificate not accepted: {exc}")
    if isinstance(exc, ssl.SSLError):
        return OutboundError(Phase.TLS, f"TLS handshake failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):  # connected, but the handshake never finished
        within = f" within {timeout:g}s" if timeout is not None else ""
        return OutboundError(Phase.TIMEOUT, f"No response{within}")
    return _connect_failure(exc, where)  # reset during the handshake


# urllib3's stubs type `timeout` and `ConnectionCls` more narrowly than the classes allow.
class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):  # type: ignore[misc]
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):  # type: ignore[misc]
    def connect(self) -> None:
        try:
            super().connect()
        except OutboundError:
            raise
        except (OSError, CertificateError) as exc:
            raise _handshake_failure(exc, self.where, self.timeout) from exc
        # Binary form works even when verification is off (the dict form is then empty).
        getpeercert = getattr(self.sock, "getpeercert", None)
        self.tls_cert_der = getpeercert(binary_form=True) if getpeercert else None


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection  # type: ignore[assignment]


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection  # type: ignore[assignment]


# --- Redirects ---------------------------------------------------------------------------

_REDIRECTS = (301, 302, 303, 307, 308)
_BODY_HEADERS = ("content-length", "content-type", "transfer-encoding")
_CREDENTIAL_HEADERS = ("authorization", "cookie")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def strips_credentials(old_url: str, new_url: str) -> bool:
    """Whether a redirect from ``old_url`` to ``new_url`` must drop Authorization and cookies.

    requests' ``SessionRedirectMixin.should_strip_auth``, line for line: credentials stay
    with the origin they were meant for, so a change of host, of port or of scheme drops
    them -- an https->http downgrade would send them in clear text. Two exceptions keep them:
    a default port written out or left implicit is the same port, and http:80 -> https:443 on
    the same host is the usual "upgrade to TLS" redirect. Raises ValueError for a bad port.
    """
    old, new = urlsplit(old_url), urlsplit(new_url)
    if old.hostname != new.hostname:
        return True
    if (
        old.scheme == "http"
        and old.port in (80, None)
        and new.scheme == "https"
        and new.port in (443, None)
    ):
        return False
    changed_port = old.port != new.port
    changed_scheme = old.scheme != new.scheme
    default_port = (_DEFAULT_PORTS.get(old.scheme), None)
    if not changed_scheme and old.port in default_port and new.port in default_port:
        return False
    return changed_port or changed_scheme


def _redirect_method(status: int, method: str) -> str:
    """requests' rebuild_method: what a browser does with 301/302/303."""
    if status in (302, 303) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def _without(headers: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in names}


# --- The request -------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _tls_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process and mode (contexts are safe to share between connections).

    Verification uses certifi's bundle, as requests does."""
    if verify:
        context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
        context.load_verify_locations(certifi.where())
    else:
        context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
        context.check_hostname = False
    return context


# The headers requests sends by default, so a target sees the same request from a check and
# from a webhook as it saw when both went through requests.
_DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept-Encoding": make_headers(accept_encoding=True)["accept-encoding"],
    "Accept": "*/*",
    "Connection": "keep-alive",
}


def _charset(content_type: str | None) -> str | None:
    """The body's text encoding as requests infers it from Content-Type."""
    if not content_type:
        return None
    media_type, *params = (part.strip() for part in content_type.split(";"))
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("'\"")
    if "text" in media_type.lower():
        return "ISO-8859-1"
    if "application/json" in media_type.lower():
        return "utf-8"
    return None


def _exchange_failure(exc: Exception, *, where: str, timeout: float | None) -> OutboundError:
    """A failure after connecting: while sending the request or reading the answer."""
    if isinstance(exc, ReadTimeoutError | TimeoutError):
        within = f" within {timeout:g}s" if timeout is not None else ""
        return OutboundError(Phase.TIMEOUT, f"No response{within}")
    if isinstance(exc, DecodeError):
        return OutboundError(Phase.REQUEST, f"The body from {where} could not be decoded: {exc}")
    # ProtocolError("Connection aborted.", RemoteDisconnected(...)) and the like: the
    # wrapped error says what happened.
    inner = exc.args[-1] if isinstance(exc, ProtocolError) and exc.args else exc
    detail = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return OutboundError(Phase.REQUEST, f"Connection to {where} failed: {detail}")


class Response:
    """One answer, body unread: status, headers, and what the connection saw."""

    def __init__(
        self,
        raw: urllib3.BaseHTTPResponse,
        url: str,
        history: list[Response],
        *,
        where: str,
        read_timeout: float,
    ) -> None:
        self.raw = raw
        self.url = url
        self.history = history
        self.status_code = raw.status
        self.headers = raw.headers  # case-insensitive
        self.encoding = _charset(raw.headers.get("content-type"))
        connection = raw.connection
        self.peer_address = getattr(connection, "peer_address", None)
        self.tls_cert_der = getattr(connection, "tls_cert_der", None)
        self._where = where
        self._read_timeout = read_timeout

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        """Decoded body chunks."""
        try:
            yield from self.raw.stream(chunk_size, decode_content=True)
        except (HTTPError, OSError) as exc:
            raise _exchange_failure(exc, where=self._where, timeout=self._read_timeout) from exc

    def close(self) -> None:
        connection = self.raw.connection
        self.raw.close()
        if connection is not None:
            connection.close()


def _pool(url: str, verify: bool) -> tuple[HTTPConnectionPool, str, str]:
    """A one-connection guarded pool for ``url``'s origin, the request target, host:port."""
    try:
        parts = parse_url(url)
    except LocationParseError as exc:
        raise OutboundError(Phase.REQUEST, f"Invalid URL {url!r}: {exc}", permanent=True) from exc
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise OutboundError(
            Phase.REQUEST, f"Invalid URL {url!r}: the scheme must be http or https", permanent=True
        )
    if not parts.host:
        raise OutboundError(Phase.REQUEST, f"Invalid URL {url!r}: no host", permanent=True)
    where = f"{parts.host}:{parts.port or _DEFAULT_PORTS[scheme]}"
    if scheme == "https":
        pool: HTTPConnectionPool = _GuardedHTTPSConnectionPool(
            parts.host,
            parts.port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE",
            ssl_context=_tls_context(verify),
        )
    else:
        pool = _GuardedHTTPConnectionPool(parts.host, parts.port, maxsize=1, retries=False)
    return pool, parts.request_uri, where


def _send(
    pool: HTTPConnectionPool,
    method: str,
    target: str,
    *,
    where: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: urllib3.Timeout,
) -> urllib3.BaseHTTPResponse:
    # DNS, connect, TLS and the guard raise OutboundError from inside the connection, which
    # urllib3 lets through; what is left here failed while sending or awaiting the answer.
    try:
        return pool.urlopen(
            method,
            target,
            body=body,
            headers=headers,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=True,
            release_conn=False,
            timeout=timeout,
        )
    except (HTTPError, OSError) as exc:
        raise _exchange_failure(exc, where=where, timeout=timeout.read_timeout) from exc
    except ValueError as exc:  # a header value http.client refuses to send, say
        raise OutboundError(Phase.REQUEST, f"Invalid request: {exc}", permanent=True) from exc


def fetch(
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float],
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    follow_redirects: bool = True,
    verify: bool = True,
) -> Response:
    """Send one request, each hop on a fresh connection, and return the response unread.

    The caller streams the body with ``iter_content`` (or ``read_capped``) and must
    ``close()`` it. Raises ``OutboundError``; ValueError only for a missing timeout.
    """
    if timeout is None:
        raise ValueError("outbound requests need a timeout")
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    limits = urllib3.Timeout(connect=connect, read=read)
    merged = dict(_DEFAULT_HEADERS)
    for name, value in (headers or {}).items():
        for default in [key for key in merged if key.lower() == name.lower()]:
            del merged[default]
        merged[name] = value
    method = method.upper()
    history: list[Response] = []
    cookies: dict[str, str] = {}  # set by redirect hops, sent back to the same origin
    while True:
        pool, target, where = _pool(url, verify)
        hop_headers = dict(merged)
        if cookies:
            # After the monitor's own Cookie header, if it has one.
            own = [key for key in hop_headers if key.lower() == "cookie"]
            jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
            hop_headers[own[0] if own else "Cookie"] = "; ".join(
                [*(hop_headers[key] for key in own), jar]
            )
        raw = _send(
            pool, method, target, where=where, body=data, headers=hop_headers, timeout=limits
        )
        response = Response(raw, url, history, where=where, read_timeout=read)
        location = raw.headers.get("location")
        if not (follow_redirects and raw.status in _REDIRECTS and location):
            return response
        response.close()  # nothing of a redirect's body is read
        if len(history) >= MAX_REDIRECTS:
            raise OutboundError(Phase.REQUEST, f"More than {MAX_REDIRECTS} redirects")
        history.append(response)
        for value in raw.headers.getlist("set-cookie"):
            try:
                received = SimpleCookie(value)
            except CookieError:
                continue
            cookies.update({key: morsel.value for key, morsel in received.items()})
        following = urljoin(url, location)
        try:
            strip = strips_credentials(url, following)
        except ValueError as exc:
            raise OutboundError(
                Phase.REQUEST, f"Invalid redirect to {following!r}: {exc}", permanent=True
            ) from exc
        if strip:
            merged = _without(merged, _CREDENTIAL_HEADERS)
            cookies = {}
        new_method = _redirect_method(raw.status, method)
        if raw.status not in (307, 308):
            data = None
            merged = _without(merged, _BODY_HEADERS)
        method, url = new_method, following


def read_capped(response: Response, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` (decoded) body bytes.

    Returns ``(body, truncated)`` and closes the response, so the connection is not left
    half-read."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    try:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                truncated = True
                break
    finally:
        response.close()
    body = b"".join(chunks)
    return body[:limit], truncated


# --- Raw TCP, TLS and DNS: the monitor kinds that do not speak HTTP -----------------------


@lru_cache(maxsize=2)
def _raw_tls_context(verify: bool) -> ssl.SSLContext:
    """TLS without HTTP: verification (certifi's bundle) includes the host name match."""
    if verify:
        return ssl.create_default_context(cafile=certifi.where())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Connection:
    """One guarded TCP connection (``connect_tcp``), optionally upgraded to TLS.

    Its reads and writes raise ``OutboundError`` like everything else here."""

    def __init__(self, sock: socket.socket, *, host: str, port: int, timeout: float) -> None:
        self.sock = sock
        self.host = host
        self.port = port
        self.timeout = timeout
        self.peer_address: str = sock.getpeername()[0]
        self.tls_cert_der: bytes | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def start_tls(self, *, server_name: str, verify: bool) -> None:
        """Handshake on the open connection (right away, or after a STARTTLS exchange)."""
        try:
            self.sock = _raw_tls_context(verify).wrap_socket(self.sock, server_hostname=server_name)
        except (OSError, CertificateError) as exc:
            raise _handshake_failure(exc, self.where, self.timeout) from exc
        # Binary form works even when verification is off (the dict form is then empty).
        self.tls_cert_der = self.sock.getpeercert(binary_form=True)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _exchange_failure(exc, where=self.where, timeout=self.timeout) from exc

    def receive(self, limit: int) -> bytes:
        """Up to ``limit`` bytes as they arrive; b"" once the peer has closed."""
        try:
            return self.sock.recv(limit)
        except OSError as exc:
            raise _exchange_failure(exc, where=self.where, timeout=self.timeout) from exc

    def close(self) -> None:
        self.sock.close()


def connect_tcp(
    host: str,
    port: int,
    *,
    timeout: float,
    tls: bool = False,
    verify: bool = True,
    server_name: str | None = None,
) -> Connection:
    """Connect to ``host:port`` through the blocked-network guard (judged on the address
    about to be connected to, as for HTTP), then handshake TLS if ``tls``. ``timeout``
    applies to each step and to later reads. The caller closes the connection."""
    where = f"{host}:{port}"
    try:
        # Judged before connect(), like every connection (guarded_connections).
        with guarded_connections():
            sock = socket.create_connection((numeric_host(host), port), timeout=timeout)
    except socket.gaierror as exc:
        raise OutboundError(Phase.DNS, f"DNS lookup failed for {host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise OutboundError(
            Phase.TIMEOUT, f"Connect to {where} timed out after {timeout:g}s"
        ) from exc
    except OSError as exc:
        raise _connect_failure(exc, where) from exc
    try:
        connection = Connection(sock, host=host, port=port, timeout=timeout)
        if tls:
            connection.start_tls(server_name=server_name or host, verify=verify)
    except BaseException:
        sock.close()
        raise
    return connection


def resolve_guarded(host: str, port: int) -> str:
    """The address datagrams to ``host:port`` go to (a DNS resolver, say), refused when it
    is in a blocked network: connectionless traffic is judged on its destination."""
    try:
        infos = socket.getaddrinfo(numeric_host(host), port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise OutboundError(Phase.DNS, f"DNS lookup failed for {host}: {exc.strerror}") from exc
    address = str(infos[0][4][0])
    _refuse_blocked(address)
    return address
