"""The fault suite's webhook receiver tells an answered alert from one whose sender hung up
before the answer: only the first is a 2xx the sender saw (a resend of the second is not a
duplicate)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

from bench.receiver import WebhookReceiver

BODY = json.dumps({"event": "incident.opened", "incident": {"id": 7}}).encode()


def post_and_hang_up(url: str) -> None:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        head = f"POST /hook HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(BODY)}\r\n"
        client.sendall(head.encode() + b"Idempotency-Key: k1\r\n\r\n" + BODY)


def wait_for_alerts(receiver: WebhookReceiver, count: int) -> list:
    deadline = time.monotonic() + 5
    while len(receiver.alerts()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return receiver.alerts()


def test_an_alert_whose_sender_hung_up_before_the_answer_is_noted_unanswered() -> None:
    receiver = WebhookReceiver().start()
    try:
        receiver.slow_down(0.5)

        post_and_hang_up(receiver.url)

        [alert] = wait_for_alerts(receiver, 1)
        assert (alert.key, alert.answered) == ("k1", False)
    finally:
        receiver.stop()


def test_an_alert_whose_sender_waited_for_the_answer_is_noted_answered() -> None:
    receiver = WebhookReceiver().start()
    try:
        receiver.slow_down(0.5)
        request = urllib.request.Request(receiver.url, data=BODY, method="POST")

        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204

        [alert] = receiver.alerts()
        assert (alert.status, alert.answered) == (204, True)
    finally:
        receiver.stop()
