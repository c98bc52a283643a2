"""All outbound HTTP goes through here: the checker and the webhook transport alike.

Why one module: a monitor URL or a webhook URL is chosen by a user, so the server must not
become a way to reach what only it can reach (cloud metadata at 169.254.169.254, link-local
services). The guard checks the address *actually connected to* -- the socket's peer after
``connect()`` -- so no DNS trick (a name resolving to a blocked address, DNS rebinding
between a check and the request, a redirect to such a name) can get around it. Every hop
of a redirect chain connects through the same guard.

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
- ``connect_tcp(host, port, *, timeout, tls=False, verify=True, server_name=None)`` opens a
  guarded raw TCP connection (optionally TLS; ``start_tls`` upgrades it later, for
  STARTTLS) for the monitor kinds that do not speak HTTP; ``resolve_guarded(host, port)``
  gives the judged address to send datagrams to (a user-given DNS resolver).

It is a thin client on urllib3, not a requests Session: building a Session, merging its
settings and its cookie jar cost ~1 ms of CPU per check, more than the HTTP exchange itself
(py-spy, bench/RESULTS.md). Each failure becomes an ``OutboundError`` where it happens (the
connection knows whether DNS, connect or TLS failed), never a chain of library exceptions
for callers to dig through.

Setting: ``BLOCKED_NETWORKS`` (env list of CIDRs, default ``169.254.0.0/16,fe80::/10``).
Loopback and private ranges are *not* blocked by default: self-hosted installs monitor their
own LAN, and the tests reach 127.0.0.1. Add ``127.0.0.0/8,10.0.0.0/8,...`` to harden a
multi-tenant install.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from enum import StrEnum
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
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
    "MAX_REDIRECTS",
    "USER_AGENT",
    "Connection",
    "OutboundError",
    "Phase",
    "Response",
    "connect_tcp",
    "fetch",
    "is_blocked_address",
    "read_capped",
    "resolve_guarded",
    "strips_credentials",
]

USER_AGENT = "healthmon/1.0 (+https://github.com/healthmon)"
MAX_REDIRECTS = 10

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
    """Checks the connected peer before a byte is sent; names what failed while connecting;
    remembers what the response needs."""

    host: str
    port: int
    timeout: float
    peer_address: str | None = None
    tls_cert_der: bytes | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _new_conn(self) -> socket.socket:
        try:
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
        address = sock.getpeername()[0]
        try:
            _refuse_blocked(address)
        except OutboundError:
            sock.close()
            raise
        self.peer_address = address
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
    """Connect to ``host:port`` through the blocked-network guard (judged on the connected
    peer, as for HTTP), then handshake TLS if ``tls``. ``timeout`` applies to each step and
    to later reads. The caller closes the connection."""
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise OutboundError(Phase.DNS, f"DNS lookup failed for {host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise OutboundError(
            Phase.TIMEOUT, f"Connect to {where} timed out after {timeout:g}s"
        ) from exc
    except OSError as exc:
        raise _connect_failure(exc, where) from exc
    try:
        _refuse_blocked(sock.getpeername()[0])
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
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise OutboundError(Phase.DNS, f"DNS lookup failed for {host}: {exc.strerror}") from exc
    address = str(infos[0][4][0])
    _refuse_blocked(address)
    return address
