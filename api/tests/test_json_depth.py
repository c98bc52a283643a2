"""Request bodies nested too deeply are a 400 for every endpoint, not a RecursionError."""

import pytest

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "url", ["/api/v1/monitors/", "/api/v1/status-pages/", "/api/v1/auth/login/"]
)
def test_a_5000_deep_body_is_a_400_saying_so(alice_client, url):
    response = alice_client.post(url, nested(5000), content_type="application/json")

    assert response.status_code == 400
    assert "JSON nested too deeply" in response.data["detail"]


def test_a_body_one_level_past_the_limit_is_refused(alice_client):
    body = '{"name": "x", "headers": ' + nested(64) + "}"

    response = alice_client.post("/api/v1/monitors/", body, content_type="application/json")

    assert response.status_code == 400
    assert "JSON nested too deeply" in response.data["detail"]


def test_a_body_at_the_limit_reaches_validation(alice_client):
    body = '{"name": "x", "headers": ' + nested(63) + "}"

    response = alice_client.post("/api/v1/monitors/", body, content_type="application/json")

    assert response.status_code == 400
    assert "detail" not in response.data and "headers" in response.data
