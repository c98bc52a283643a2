"""Status page slugs in lower case: existing rows first, then the field that keeps them so."""

from django.db import migrations
from django.db.models.functions import Lower

import lib.fields


def lowercase_slugs(apps, schema_editor):
    # Few rows have upper case (the API lower-cased slugs already; only the admin did not).
    # One that would collide with another page's slug keeps its id as a suffix.
    StatusPage = apps.get_model("monitors", "StatusPage")
    mixed = StatusPage.objects.annotate(lower=Lower("slug")).exclude(slug=Lower("slug"))
    for page in mixed.only("id", "slug").iterator():
        slug = page.slug.lower()
        if StatusPage.objects.filter(slug=slug).exclude(id=page.id).exists():
            slug = f"{slug[:50]}-{page.id}"
        StatusPage.objects.filter(id=page.id).update(slug=slug)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("monitors", "0006_check_now_requests"),
    ]

    operations = [
        migrations.RunPython(lowercase_slugs, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="statuspage",
            name="slug",
            field=lib.fields.LowercaseSlugField(
                help_text="The page is /status/<slug>/", max_length=60, unique=True
            ),
        ),
    ]
