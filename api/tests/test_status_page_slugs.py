"""Status page slugs are unique whatever their case, from every entry point (issue 18)."""

import pytest
from django.db import IntegrityError, connection

from monitors.models import StatusPage

pytestmark = pytest.mark.django_db

PAGES = "/api/v1/status-pages/"


def test_a_slug_differing_only_in_case_is_refused_on_the_slug_field(alice_client, bob_client):
    assert alice_client.post(PAGES, {"slug": "acme", "title": "A"}).status_code == 201

    response = bob_client.post(PAGES, {"slug": "ACME", "title": "B"})

    assert response.status_code == 400
    assert "already exists" in str(response.data["slug"])


def test_renaming_a_page_to_another_pages_slug_in_other_case_is_refused(alice_client):
    alice_client.post(PAGES, {"slug": "acme", "title": "A"})
    other = alice_client.post(PAGES, {"slug": "shop", "title": "B"}).data

    response = alice_client.patch(f"{PAGES}{other['id']}/", {"slug": "Acme"})

    assert response.status_code == 400 and "slug" in response.data


def test_a_page_saved_through_the_orm_keeps_its_slug_in_lower_case(alice):
    page = StatusPage.objects.create(team=alice.personal_team, slug="Acme-Status", title="A")

    page.refresh_from_db()
    assert page.slug == "acme-status"
    assert StatusPage.objects.get(slug="ACME-status") == page


def test_the_public_page_answers_its_slug_in_any_case(alice, anon_client):
    StatusPage.objects.create(team=alice.personal_team, slug="acme", title="Acme status")

    response = anon_client.get("/status/Acme/")

    assert response.status_code == 200 and b"Acme status" in response.content


def test_the_database_refuses_a_slug_differing_only_in_case(alice):
    StatusPage.objects.create(team=alice.personal_team, slug="acme", title="A")

    # Raw SQL goes around the field's lower-casing; the unique index on lower(slug) holds.
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitors_statuspage "
            "(team_id, slug, title, description, is_public, created_at, updated_at) "
            "VALUES (%s, 'ACME', 'B', '', true, now(), now())",
            [alice.personal_team.id],
        )
