from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_api_keys"),
    ]

    operations = [
        # Nullable, no default: no table rewrite.
        migrations.AddField(
            model_name="user",
            name="email_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
