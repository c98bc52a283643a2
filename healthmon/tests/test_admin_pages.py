"""Every model in the admin: the list, search and add/change pages render for staff."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

OUR_APPS = {"accounts", "monitors", "incidents", "notifications"}
REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in OUR_APPS
)


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser(email="root@example.com", password="x-long-password-1")
    client.force_login(user)
    return client


@pytest.mark.parametrize(("app", "model"), REGISTERED)
def test_changelist_and_search_render(staff_client, app, model):
    url = reverse(f"admin:{app}_{model}_changelist")

    assert staff_client.get(url).status_code == 200
    assert staff_client.get(url, {"q": "x"}).status_code == 200


@pytest.mark.parametrize(("app", "model"), REGISTERED)
def test_add_page_renders_or_is_refused_on_purpose(staff_client, app, model):
    response = staff_client.get(reverse(f"admin:{app}_{model}_add"))

    assert response.status_code in (200, 403)


def test_every_model_of_ours_is_in_the_admin():
    assert {
        "user",
        "team",
        "membership",
        "monitor",
        "checkresult",
        "incident",
        "channel",
        "delivery",
        "deadletter",
    } <= {model for _app, model in REGISTERED}
