"""The one outbound-HTTP module: the blocked-network guard holds against names and redirects,
credentials stay with their origin, and every failure says where it happened."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from conftest import BLOCKED_ADDRESS
from lib import outbound
from lib.outbound import Phase
from monitors.tests.http_target import HttpTarget, refused_port, self_signed_tls


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A one-handler HTTP server on 127.0.0.1; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def target():
    with HttpTarget() as server:
        yield server


def _body(response) -> bytes:
    try:
        return b"".join(response.iter_content(65536))
    finally:
        response.close()


def test_an_address_outside_the_blocked_networks_is_reachable(target):
    response = outbound.fetch("GET", target.url("/ok"), timeout=5)

    assert response.status_code == 200
    assert response.peer_address == "127.0.0.1"
    assert response.tls_cert_der is None
    response.close()


@override_settings(BLOCKED_NETWORKS=list(outbound.DEFAULT_BLOCKED_NETWORKS))
@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "fe80::1",
        "100.100.100.200",
        "168.63.129.16",
        "fd00:ec2::254",
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "fd12::1",
        "0.0.0.0",
        "::",
    ],
)
def test_default_blocks_metadata_loopback_and_private_networks(address):
    assert outbound.is_blocked_address(address)


@override_settings(BLOCKED_NETWORKS=list(outbound.DEFAULT_BLOCKED_NETWORKS))
def test_default_lets_public_addresses_through():
    assert not outbound.is_blocked_address("192.0.2.10")
    assert not outbound.is_blocked_address("2001:db8::1")


@pytest.mark.parametrize("host", ["2130706434", "0x7f000002", "0177.0.0.2", "127.2", "0x7f.2"])
def test_numeric_forms_of_a_blocked_address_are_judged_by_that_address(host):
    # conftest blocks 127.0.0.2; each form below is 127.0.0.2 to the resolver.
    with HttpTarget(BLOCKED_ADDRESS) as blocked, pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", f"http://{host}:{blocked.port}/ok", timeout=5)

    assert (caught.value.phase, caught.value.permanent) == (Phase.BLOCKED, True)
    assert f"{BLOCKED_ADDRESS} is in a blocked network" in caught.value.reason
    assert blocked.hits == []


def test_the_guard_judges_the_address_before_connecting():
    # Nothing listens there: had connect() run first, this would be "Connection refused",
    # and the difference would tell an outsider which blocked ports are open.
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", f"http://{BLOCKED_ADDRESS}:{refused_port()}/", timeout=5)

    assert caught.value.phase == Phase.BLOCKED


def test_guarded_connections_leave_other_threads_alone():
    with HttpTarget(BLOCKED_ADDRESS) as blocked:
        entered, done = threading.Event(), threading.Event()

        def guarded() -> None:
            with outbound.guarded_connections():
                entered.set()
                done.wait(5)

        thread = threading.Thread(target=guarded)
        thread.start()
        entered.wait(5)
        try:
            # This thread's connection (a database's, say) is not an outbound one.
            with socket.create_connection((BLOCKED_ADDRESS, blocked.port), timeout=5):
                pass
        finally:
            done.set()
            thread.join()


def test_guarded_connections_refuse_and_record_a_plain_socket_connect():
    with (
        outbound.guarded_connections() as guard,
        socket.socket() as sock,
        pytest.raises(outbound.OutboundError),
    ):
        sock.connect(("2130706434", refused_port()))

    assert guard.refusal is not None
    assert guard.refusal.phase == Phase.BLOCKED


@override_settings(BLOCKED_NETWORKS=["127.0.0.1/32"])
def test_a_host_name_resolving_to_a_blocked_address_is_refused(target):
    # "localhost" is not an address: only the connected peer can tell it is blocked.
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", f"http://localhost:{target.port}/ok", timeout=5)

    assert (caught.value.phase, caught.value.permanent) == (Phase.BLOCKED, True)
    assert "127.0.0.1 is in a blocked network (127.0.0.1/32)" in caught.value.reason
    assert target.hits == []  # nothing was sent


def test_a_redirect_to_a_blocked_address_is_refused_at_that_hop(target):
    with HttpTarget("127.0.0.2") as inner, override_settings(BLOCKED_NETWORKS=["127.0.0.2/32"]):
        with pytest.raises(outbound.OutboundError) as caught:
            outbound.fetch("GET", target.url(f"/redirect?to={inner.url('/ok')}"), timeout=5)

        assert caught.value.phase == Phase.BLOCKED
        assert target.hits == [("GET", f"/redirect?to={inner.url('/ok')}")]
        assert inner.hits == []


def test_redirects_can_be_turned_off(target):
    response = outbound.fetch(
        "GET", target.url("/redirect?to=/ok"), timeout=5, follow_redirects=False
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/ok"
    response.close()


def test_a_timeout_is_mandatory(target):
    with pytest.raises(ValueError, match="timeout"):
        outbound.fetch("GET", target.url("/ok"), timeout=None)


def test_read_capped_stops_at_the_limit(target):
    response = outbound.fetch("GET", target.url("/big?mb=4"), timeout=5)

    body, truncated = outbound.read_capped(response, 1024 * 1024)

    assert truncated
    assert len(body) == 1024 * 1024


def test_tls_certificate_is_kept_even_without_verification():
    with HttpTarget(tls=self_signed_tls(days=10)) as server:
        response = outbound.fetch("GET", server.url("/ok"), timeout=5, verify=False)
        response.close()

    assert response.status_code == 200
    assert response.tls_cert_der  # DER bytes of the server certificate


# --- Failures: one error type, raised where the failure happens ----------------------------


def test_a_refused_connection_fails_at_connect():
    port = refused_port()

    with pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", f"http://127.0.0.1:{port}/", timeout=5)

    assert (caught.value.phase, caught.value.permanent) == (Phase.CONNECT, False)
    assert caught.value.reason == f"Connection refused by 127.0.0.1:{port}"


def test_an_unknown_host_fails_at_dns():
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", "http://no-such-host.invalid/", timeout=5)

    assert caught.value.phase == Phase.DNS
    assert caught.value.reason.startswith("DNS lookup failed for no-such-host.invalid: ")


def test_an_untrusted_certificate_fails_at_tls():
    server = HttpTarget(tls=self_signed_tls(days=10))
    with server, pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", server.url("/ok"), timeout=5)

    assert caught.value.phase == Phase.TLS
    assert caught.value.reason.startswith("TLS certificate not accepted: ")


def test_a_slow_answer_fails_at_timeout(target):
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", target.url("/slow?s=2"), timeout=0.3)

    assert (caught.value.phase, caught.value.reason) == (Phase.TIMEOUT, "No response within 0.3s")


class _HangUp(BaseHTTPRequestHandler):
    """Reads the request, then closes the connection without a word."""

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.close_connection = True


def test_a_connection_closed_without_an_answer_fails_at_request():
    with _serving(_HangUp) as port, pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", f"http://127.0.0.1:{port}/", timeout=5)

    assert (caught.value.phase, caught.value.permanent) == (Phase.REQUEST, False)
    assert caught.value.reason.startswith(f"Connection to 127.0.0.1:{port} failed: ")


@pytest.mark.parametrize(
    "url", ["example.com/health", "ftp://127.0.0.1/", "http:///path", "http://127.0.0.1:99999/"]
)
def test_an_invalid_url_is_a_permanent_request_failure(url):
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", url, timeout=5)

    assert (caught.value.phase, caught.value.permanent) == (Phase.REQUEST, True)
    assert caught.value.reason.startswith("Invalid URL")


class _RedirectLoop(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_too_many_redirects_fail_the_request():
    with _serving(_RedirectLoop) as port, pytest.raises(outbound.OutboundError) as caught:
        outbound.fetch("GET", f"http://127.0.0.1:{port}/again", timeout=5)

    assert (caught.value.phase, caught.value.reason) == (Phase.REQUEST, "More than 10 redirects")


# --- Redirects ---------------------------------------------------------------------------


def test_fetch_follows_a_post_302_as_a_get_without_the_body(target):
    response = outbound.fetch(
        "post",
        target.url("/redirect?to=/echo"),
        timeout=5,
        headers={"X-Token": "abc"},
        data=b'{"ping": 1}',
    )

    echoed = json.loads(_body(response))
    assert (response.status_code, echoed["method"], echoed["body"]) == (200, "GET", "")
    assert echoed["headers"]["X-Token"] == "abc"
    assert echoed["headers"]["User-Agent"] == outbound.USER_AGENT
    assert [hop.status_code for hop in response.history] == [302]


class _CookieRedirect(BaseHTTPRequestHandler):
    """/login sets a session cookie and redirects to /home, which echoes the Cookie header."""

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/login":
            self.send_response(302)
            self.send_header("Location", "/home")
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Content-Length", "0")
        else:
            body = (self.headers.get("Cookie") or "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path != "/login":
            self.wfile.write(body)


def test_fetch_sends_cookies_set_during_redirects_with_the_monitors_own():
    with _serving(_CookieRedirect) as port:
        url = f"http://127.0.0.1:{port}/login"
        response = outbound.fetch("GET", url, timeout=5, headers={"Cookie": "pref=1"})
        assert _body(response) == b"pref=1; session=abc"


CREDENTIALS = {"Authorization": "Bearer secret", "Cookie": "session=abc"}


@pytest.mark.parametrize(
    ("old", "new", "strips"),
    [
        # same origin
        ("https://api.example.com/a", "https://api.example.com/b", False),
        ("http://api.example.com:8080/a", "http://api.example.com:8080/b", False),
        # host change
        ("https://api.example.com/a", "https://other.example.com/a", True),
        ("https://api.example.com/a", "https://API.example.com/a", False),  # names are caseless
        # scheme downgrade: credentials would travel in clear text
        ("https://api.example.com/a", "http://api.example.com/a", True),
        ("https://api.example.com:443/a", "http://api.example.com:80/a", True),
        # port change
        ("http://api.example.com:8080/a", "http://api.example.com:8081/a", True),
        ("https://api.example.com/a", "https://api.example.com:8443/a", True),
        ("http://api.example.com/a", "http://api.example.com:8080/a", True),
        # a default port written out or left implicit is the same port
        ("https://api.example.com/a", "https://api.example.com:443/b", False),
        ("https://api.example.com:443/a", "https://api.example.com/b", False),
        ("http://api.example.com:80/a", "http://api.example.com/b", False),
        # requests' special case: http:80 -> https:443 on the same host is an upgrade
        ("http://api.example.com/a", "https://api.example.com/a", False),
        ("http://api.example.com:80/a", "https://api.example.com:443/a", False),
        ("http://api.example.com/a", "https://api.example.com:8443/a", True),
        ("http://api.example.com:8080/a", "https://api.example.com/a", True),
        ("http://other.example.com/a", "https://api.example.com/a", True),
    ],
)
def test_credentials_are_stripped_on_redirect_exactly_as_requests_does(old, new, strips):
    assert outbound.strips_credentials(old, new) is strips


def _echoed_after_redirect(start: HttpTarget, to: str, **options) -> dict:
    response = outbound.fetch(
        "GET", start.url(f"/redirect?to={to}"), timeout=5, headers=CREDENTIALS, **options
    )
    assert [hop.status_code for hop in response.history] == [302]
    return json.loads(_body(response))["headers"]


def test_a_redirect_to_another_host_drops_authorization_and_cookies(target):
    with HttpTarget("127.0.0.3") as other:
        headers = _echoed_after_redirect(target, other.url("/echo"))

    assert "Authorization" not in headers
    assert "Cookie" not in headers


def test_a_redirect_to_another_port_of_the_same_host_drops_authorization_and_cookies(target):
    with HttpTarget() as other:
        assert other.port != target.port
        headers = _echoed_after_redirect(target, other.url("/echo"))

    assert "Authorization" not in headers
    assert "Cookie" not in headers


def test_a_redirect_from_https_to_plain_http_never_sends_credentials_in_clear_text(target):
    with HttpTarget(tls=self_signed_tls(days=10)) as secure:
        headers = _echoed_after_redirect(secure, target.url("/echo"), verify=False)

    assert "Authorization" not in headers
    assert "Cookie" not in headers


def test_a_redirect_within_the_same_origin_keeps_authorization_and_cookies(target):
    headers = _echoed_after_redirect(target, "/echo")

    assert headers["Authorization"] == "Bearer secret"
    assert headers["Cookie"] == "session=abc"


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706434", "127.0.0.2"),
        ("0x7f000002", "127.0.0.2"),
        ("0177.0.0.2", "127.0.0.2"),
        ("127.2", "127.0.0.2"),
        ("0x7F.0.0.2", "127.0.0.2"),
        ("127.0.0.2", "127.0.0.2"),
        ("example.com", "example.com"),
        ("127.0.0.2 example.com", "127.0.0.2 example.com"),  # inet_aton would accept it
        ("99999999999", "99999999999"),  # no IPv4 address: left for the resolver to refuse
        ("::1", "::1"),
    ],
)
def test_numeric_host_reads_legacy_ipv4_forms_as_browsers_do(host, address):
    assert outbound.numeric_host(host) == address
