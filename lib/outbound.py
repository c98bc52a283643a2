"""All outbound HTTP goes through here: the checker and the webhook transport alike.

Why one module: a monitor URL or a webhook URL is chosen by a user, so the server must not
become a way to reach what only it can reach (cloud metadata at 169.254.169.254, link-local
services). The guard checks the address *actually connected to* -- the socket's peer after
``connect()`` -- so no DNS trick (a name resolving to a blocked address, DNS rebinding
between a check and the request, a redirect to such a name) can get around it. Every hop
of a redirect chain connects through the same guard.

Interface (keep it small)::

    from lib import outbound

    response = outbound.request("POST", url, timeout=10, json=payload)   # one-shot
    with outbound.session(follow_redirects=False) as s:                  # reuse connections
        response = s.get(url, timeout=(3, 10))

    except outbound.BlockedNetworkError as exc:   # a requests.ConnectionError subclass
        exc.reason                                # "169.254.169.254 is in a blocked network ..."

- ``request(method, url, *, timeout, follow_redirects=True, verify=True, **kwargs)`` sends
  one request on a fresh session (``kwargs`` are those of ``requests.request``: headers,
  data, json, stream, ...). A timeout is mandatory: ``None`` is refused.
- ``session(*, follow_redirects=True, verify=True)`` returns a ``requests.Session`` whose
  adapters carry the guard; it ignores proxy and netrc environment variables (a proxy would
  be the peer the guard sees) and refuses requests without a timeout.
- ``read_capped(response, limit)`` reads at most ``limit`` body bytes of a ``stream=True``
  response, so a huge answer cannot exhaust memory; returns ``(body, truncated)``.
- Every response carries ``response.peer_address`` (the IP connected to) and
  ``response.tls_cert_der`` (the server certificate, DER, or None for plain HTTP), read at
  connect time because the socket is gone once the body is consumed.
- ``is_blocked_address(ip)`` answers whether an address falls in ``BLOCKED_NETWORKS``.

Setting: ``BLOCKED_NETWORKS`` (env list of CIDRs, default ``169.254.0.0/16,fe80::/10``).
Loopback and private ranges are *not* blocked by default: self-hosted installs monitor their
own LAN, and the tests reach 127.0.0.1. Add ``127.0.0.0/8,10.0.0.0/8,...`` to harden a
multi-tenant install.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from typing import Any

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InsecureRequestWarning

__all__ = [
    "USER_AGENT",
    "BlockedNetworkError",
    "is_blocked_address",
    "read_capped",
    "request",
    "session",
]

USER_AGENT = "healthmon/1.0 (+https://github.com/healthmon)"
MAX_REDIRECTS = 10

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# verify=False is an explicit per-monitor choice; a warning per check would flood the logs.
urllib3.disable_warnings(InsecureRequestWarning)


class BlockedNetworkError(requests.exceptions.ConnectionError):
    """The connection reached an address in ``BLOCKED_NETWORKS``; nothing was sent to it."""

    def __init__(self, address: str, network: str, *, request=None) -> None:
        self.address = address
        self.network = network
        self.reason = (
            f"{address} is in a blocked network ({network}); "
            "healthmon does not connect there (setting BLOCKED_NETWORKS)"
        )
        super().__init__(self.reason, request=request)


class _BlockedPeer(Exception):
    """Raised inside urllib3 on purpose *not* as an OSError: urllib3 would otherwise retry
    it and wrap it into an anonymous MaxRetryError. The adapter turns it into
    ``BlockedNetworkError`` with the request attached."""

    def __init__(self, address: str, network: str) -> None:
        super().__init__(address, network)
        self.address = address
        self.network = network


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


class _PeerGuardMixin:
    """Checks the connected peer before a byte is sent; remembers what the response needs."""

    peer_address: str | None = None
    tls_cert_der: bytes | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        address = sock.getpeername()[0]
        network = _matching_network(address)
        if network is not None:
            sock.close()
            raise _BlockedPeer(address, str(network))
        self.peer_address = address
        return sock


class _GuardedHTTPConnection(_PeerGuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_PeerGuardMixin, HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        # Binary form works even when verification is off (the dict form is then empty).
        getpeercert = getattr(self.sock, "getpeercert", None)
        self.tls_cert_der = getpeercert(binary_form=True) if getpeercert else None


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def __init__(self) -> None:
        # No urllib3-level retries: a check reports what happened, a webhook retries
        # through its own task with backoff.
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            raise ValueError("outbound requests need a timeout")
        try:
            return super().send(request, **kwargs)
        except _BlockedPeer as exc:
            raise BlockedNetworkError(exc.address, exc.network, request=request) from None

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        connection = getattr(resp, "connection", None)
        response.peer_address = getattr(connection, "peer_address", None)
        response.tls_cert_der = getattr(connection, "tls_cert_der", None)
        return response


class _Session(requests.Session):
    def __init__(self, *, follow_redirects: bool, verify: bool) -> None:
        super().__init__()
        self.trust_env = False  # no proxies or .netrc from the environment
        self.verify = verify
        self.max_redirects = MAX_REDIRECTS
        self.follow_redirects = follow_redirects
        self.headers["User-Agent"] = USER_AGENT
        adapter = _GuardedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", self.follow_redirects)
        return super().request(method, url, *args, **kwargs)


def session(*, follow_redirects: bool = True, verify: bool = True) -> requests.Session:
    """A requests Session whose every connection goes through the blocked-network guard."""
    return _Session(follow_redirects=follow_redirects, verify=verify)


def request(
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float],
    follow_redirects: bool = True,
    verify: bool = True,
    **kwargs: Any,
) -> requests.Response:
    """Send one request on a fresh connection. Raises ``requests.RequestException``
    (``BlockedNetworkError`` among them) like ``requests.request`` does."""
    with session(follow_redirects=follow_redirects, verify=verify) as s:
        return s.request(method, url, timeout=timeout, **kwargs)


def read_capped(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` (decoded) body bytes of a ``stream=True`` response.

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


# --- One request for a check, on urllib3 directly ------------------------------------------
#
# ``fetch`` is what the checker calls for every check. It behaves like ``request`` (same
# guard, same default headers, redirects handled as requests handles them, requests'
# exception types so callers classify errors the same way) but skips requests' Session:
# building a Session, merging its settings (typing.Protocol isinstance checks on Python 3.11)
# and its cookie jar cost ~1 ms of CPU per check, more than the HTTP exchange itself
# (py-spy, bench/RESULTS.md). Webhooks keep ``request``: a few per minute.

_REDIRECTS = (301, 302, 303, 307, 308)
_BODY_HEADERS = ("content-length", "content-type", "transfer-encoding")


@lru_cache(maxsize=2)
def _tls_context(verify: bool):
    """One TLS context per process and mode (contexts are safe to share between connections).

    Verification uses certifi's bundle, like requests."""
    import ssl

    from requests.utils import DEFAULT_CA_BUNDLE_PATH
    from urllib3.util.ssl_ import create_urllib3_context

    if verify:
        context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
        context.load_verify_locations(DEFAULT_CA_BUNDLE_PATH)
    else:
        context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
        context.check_hostname = False
    return context


@lru_cache(maxsize=1)
def _default_headers() -> tuple[tuple[str, str], ...]:
    headers = requests.utils.default_headers()
    headers["User-Agent"] = USER_AGENT
    return tuple(headers.items())


class FetchedResponse:
    """The parts of a ``requests.Response`` the checker reads, over a urllib3 response."""

    def __init__(self, raw: urllib3.HTTPResponse, url: str, history: list[FetchedResponse]):
        self.raw = raw
        self.url = url
        self.history = history
        self.status_code = raw.status
        self.headers = raw.headers  # case-insensitive, like requests' headers
        self.encoding = requests.utils.get_encoding_from_headers(raw.headers)
        connection = getattr(raw, "connection", None)
        self.peer_address = getattr(connection, "peer_address", None)
        self.tls_cert_der = getattr(connection, "tls_cert_der", None)

    def iter_content(self, chunk_size: int):
        """Decoded body chunks; errors translated as requests translates them."""
        from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

        try:
            yield from self.raw.stream(chunk_size, decode_content=True)
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except ReadTimeoutError as exc:
            raise requests.ConnectionError(exc) from exc
        except SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc

    def close(self) -> None:
        self.raw.close()
        connection = getattr(self.raw, "connection", None)
        if connection is not None:
            connection.close()


def _pool(url: str, verify: bool) -> tuple[HTTPConnectionPool, str]:
    """A one-connection guarded pool for ``url``'s origin, and the request target."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parts = parse_url(url)
    except LocationParseError as exc:
        raise requests.exceptions.InvalidURL(f"Invalid URL {url!r}: {exc}") from exc
    if not parts.scheme:
        raise requests.exceptions.MissingSchema(f"Invalid URL {url!r}: No scheme supplied.")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise requests.exceptions.InvalidSchema(f"No connection adapters were found for {url!r}")
    if not parts.host:
        raise requests.exceptions.InvalidURL(f"Invalid URL {url!r}: No host supplied")
    if scheme == "https":
        pool = _GuardedHTTPSConnectionPool(
            parts.host,
            parts.port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE",
            ssl_context=_tls_context(verify),
        )
    else:
        pool = _GuardedHTTPConnectionPool(parts.host, parts.port, maxsize=1, retries=False)
    return pool, parts.request_uri


def _send(pool, method, target, *, body, headers, timeout) -> urllib3.HTTPResponse:
    from urllib3.exceptions import (
        ConnectTimeoutError,
        HTTPError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
        SSLError,
    )

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
    except _BlockedPeer as exc:
        raise BlockedNetworkError(exc.address, exc.network) from None
    except NewConnectionError as exc:  # before its base class ConnectTimeoutError (urllib3 2)
        raise requests.ConnectionError(exc) from exc
    except ConnectTimeoutError as exc:
        raise requests.ConnectTimeout(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc) from exc
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except (ProtocolError, HTTPError, OSError) as exc:
        raise requests.ConnectionError(exc) from exc


def _redirect_method(status: int, method: str) -> str:
    """requests' rebuild_method: what a browser does with 301/302/303."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status == 302 and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def fetch(
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float],
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    follow_redirects: bool = True,
    verify: bool = True,
) -> FetchedResponse:
    """Send one request on a fresh connection (per hop) and return the response unread.

    The caller streams the body with ``iter_content`` and must ``close()`` it. Raises the
    ``requests`` exceptions ``request`` raises (``BlockedNetworkError`` among them).
    """
    from http.cookies import CookieError, SimpleCookie
    from urllib.parse import urljoin, urlsplit

    if timeout is None:
        raise ValueError("outbound requests need a timeout")
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    limits = urllib3.Timeout(connect=connect, read=read)
    merged = dict(_default_headers())
    for name, value in (headers or {}).items():
        for default in [key for key in merged if key.lower() == name.lower()]:
            del merged[default]
        merged[name] = value
    method = method.upper()
    history: list[FetchedResponse] = []
    cookies: dict[str, str] = {}  # set by redirect hops, sent back to the same host
    while True:
        pool, target = _pool(url, verify)
        hop_headers = dict(merged)
        if cookies:
            # After the monitor's own Cookie header, if it has one.
            own = [key for key in hop_headers if key.lower() == "cookie"]
            jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
            hop_headers[own[0] if own else "Cookie"] = "; ".join(
                [*(hop_headers[key] for key in own), jar]
            )
        raw = _send(pool, method, target, body=data, headers=hop_headers, timeout=limits)
        response = FetchedResponse(raw, url, history)
        location = raw.headers.get("location")
        if not (follow_redirects and raw.status in _REDIRECTS and location):
            return response
        if len(history) >= MAX_REDIRECTS:
            response.close()
            raise requests.TooManyRedirects(f"Exceeded {MAX_REDIRECTS} redirects.")
        response.close()  # nothing of a redirect's body is read
        history.append(response)
        for value in raw.headers.getlist("set-cookie"):
            try:
                jar = SimpleCookie(value)
            except CookieError:
                continue
            cookies.update({key: morsel.value for key, morsel in jar.items()})
        following = urljoin(url, location)
        if urlsplit(following).hostname != urlsplit(url).hostname:
            # Like requests: credentials and cookies stay with the host they were meant for.
            merged = {
                k: v for k, v in merged.items() if k.lower() not in ("authorization", "cookie")
            }
            cookies = {}
        new_method = _redirect_method(raw.status, method)
        if raw.status not in (307, 308):
            data = None
            merged = {k: v for k, v in merged.items() if k.lower() not in _BODY_HEADERS}
        method, url = new_method, following
