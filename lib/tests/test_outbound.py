"""The one outbound-HTTP module: the blocked-network guard holds against names and redirects."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.test import override_settings

from lib import outbound
from monitors.tests.http_target import HttpTarget, refused_port, self_signed_tls


@pytest.fixture
def target():
    with HttpTarget() as server:
        yield server


def test_loopback_is_reachable_by_default(target):
    response = outbound.request("GET", target.url("/ok"), timeout=5)

    assert response.status_code == 200
    assert response.peer_address == "127.0.0.1"
    assert response.tls_cert_der is None


def test_default_blocks_link_local_metadata_address():
    assert outbound.is_blocked_address("169.254.169.254")
    assert outbound.is_blocked_address("fe80::1")
    assert outbound.is_blocked_address("::ffff:169.254.169.254")
    assert not outbound.is_blocked_address("127.0.0.1")
    assert not outbound.is_blocked_address("10.1.2.3")


@override_settings(BLOCKED_NETWORKS=["127.0.0.1/32"])
def test_a_host_name_resolving_to_a_blocked_address_is_refused(target):
    # "localhost" is not an address: only the connected peer can tell it is blocked.
    with pytest.raises(outbound.BlockedNetworkError) as caught:
        outbound.request("GET", f"http://localhost:{target.port}/ok", timeout=5)

    assert "127.0.0.1 is in a blocked network (127.0.0.1/32)" in caught.value.reason
    assert isinstance(caught.value, requests.ConnectionError)
    assert target.hits == []  # nothing was sent


def test_a_redirect_to_a_blocked_address_is_refused_at_that_hop(target):
    with HttpTarget("127.0.0.2") as inner, override_settings(BLOCKED_NETWORKS=["127.0.0.2/32"]):
        with pytest.raises(outbound.BlockedNetworkError):
            outbound.request("GET", target.url(f"/redirect?to={inner.url('/ok')}"), timeout=5)

        assert target.hits == [("GET", f"/redirect?to={inner.url('/ok')}")]
        assert inner.hits == []


def test_redirects_can_be_turned_off(target):
    response = outbound.request(
        "GET", target.url("/redirect?to=/ok"), timeout=5, follow_redirects=False
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/ok"


def test_a_timeout_is_mandatory(target):
    with pytest.raises(ValueError, match="timeout"):
        outbound.session().get(target.url("/ok"))


def test_refused_connection_is_a_connection_error():
    with pytest.raises(requests.ConnectionError) as caught:
        outbound.request("GET", f"http://127.0.0.1:{refused_port()}/", timeout=5)

    assert not isinstance(caught.value, outbound.BlockedNetworkError)


def test_read_capped_stops_at_the_limit(target):
    response = outbound.request("GET", target.url("/big?mb=4"), timeout=5, stream=True)

    body, truncated = outbound.read_capped(response, 1024 * 1024)

    assert truncated
    assert len(body) == 1024 * 1024


def test_tls_certificate_is_kept_even_without_verification():
    with HttpTarget(tls=self_signed_tls(days=10)) as server:
        response = outbound.request("GET", server.url("/ok"), timeout=5, verify=False)

    assert response.status_code == 200
    assert response.tls_cert_der  # DER bytes of the server certificate


# --- fetch: the checker's request, on urllib3 directly --------------------------------------


def _body(response) -> bytes:
    try:
        return b"".join(response.iter_content(65536))
    finally:
        response.close()


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


def test_fetch_refuses_a_redirect_to_a_blocked_address_at_that_hop(target):
    with HttpTarget("127.0.0.2") as inner, override_settings(BLOCKED_NETWORKS=["127.0.0.2/32"]):
        with pytest.raises(outbound.BlockedNetworkError):
            outbound.fetch("GET", target.url(f"/redirect?to={inner.url('/ok')}"), timeout=5)

        assert inner.hits == []


def test_fetch_raises_what_requests_raises_for_refused_and_invalid_urls():
    with pytest.raises(requests.ConnectionError) as refused:
        outbound.fetch("GET", f"http://127.0.0.1:{refused_port()}/", timeout=5)
    assert not isinstance(refused.value, requests.ConnectTimeout)
    with pytest.raises(requests.exceptions.MissingSchema):
        outbound.fetch("GET", "example.com/health", timeout=5)
    with pytest.raises(ValueError, match="timeout"):
        outbound.fetch("GET", "http://127.0.0.1/", timeout=None)


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
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieRedirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/login"
        response = outbound.fetch("GET", url, timeout=5, headers={"Cookie": "pref=1"})
        assert _body(response) == b"pref=1; session=abc"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_keeps_authorization_and_cookies_from_another_host(target):
    with HttpTarget("127.0.0.2") as other:
        response = outbound.fetch(
            "GET",
            target.url(f"/redirect?to={other.url('/echo')}"),
            timeout=5,
            headers={"Authorization": "Bearer secret", "Cookie": "session=abc"},
        )
        echoed = json.loads(_body(response))

    assert "Authorization" not in echoed["headers"]
    assert "Cookie" not in echoed["headers"]
