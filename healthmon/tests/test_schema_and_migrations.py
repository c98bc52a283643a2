import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_migrations_are_complete():
    # Fails when a model changed without a committed migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


def test_openapi_schema_describes_every_endpoint_and_auth(anon_client):
    response = anon_client.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in [
        "/api/v1/auth/register/",
        "/api/v1/auth/login/",
        "/api/v1/auth/refresh/",
        "/api/v1/auth/me/",
        "/api/v1/monitors/",
        "/api/v1/monitors/{id}/",
        "/api/v1/monitors/{id}/pause/",
        "/api/v1/monitors/{id}/resume/",
        "/api/v1/teams/",
        "/api/v1/teams/{id}/members/",
    ]:
        assert path in paths, path
    assert {"jwtAuth", "apiKey"} <= schema["components"]["securitySchemes"].keys()
    security = paths["/api/v1/monitors/"]["get"]["security"]
    assert {"jwtAuth": []} in security and {"apiKey": []} in security


def test_swagger_ui_is_served(anon_client):
    response = anon_client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
