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


@pytest.fixture
def components(anon_client) -> dict:
    return yaml.safe_load(anon_client.get("/api/schema/").content)["components"]["schemas"]


def _allows_blank(components: dict, prop: dict) -> bool:
    options = [components[o["$ref"].rsplit("/", 1)[-1]] for o in prop.get("oneOf", [])]
    return any(option.get("enum") == [""] for option in options)


@pytest.mark.parametrize(
    ("schema", "field"),
    [("Incident", "resolution"), ("Monitor", "last_check_status"), ("CheckResult", "phase")],
)
def test_blank_read_only_choices_are_in_the_schema(components, schema, field):
    # "" means "none yet" (an open incident, an unchecked monitor, a passed check).
    assert _allows_blank(components, components[schema]["properties"][field])


@pytest.mark.parametrize(
    ("schema", "field"), [("Incident", "acknowledged_by"), ("DeadLetter", "replayed_by")]
)
def test_relations_that_may_be_unset_are_nullable_in_the_schema(components, schema, field):
    prop = components[schema]["properties"][field]
    assert prop.get("nullable") or any(o.get("nullable") for o in prop.get("allOf", []))
