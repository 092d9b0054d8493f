"""Stored case documents (cases.stored_documents) and the one-row counter of writes to the tables they show."""

import django.db.models.deletion
from django.db import migrations, models


def create_counter(apps, schema_editor):
    apps.get_model("cases", "ReferenceChanges").objects.create(pk=1, changes=0)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0015_episodes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReferenceChanges",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("changes", models.BigIntegerField(default=0)),
            ],
            options={
                "ordering": ["id"],
                "verbose_name_plural": "reference changes",
            },
        ),
        migrations.CreateModel(
            name="StoredDocument",
            fields=[
                (
                    "case",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="stored_document",
                        serialize=False,
                        to="cases.case",
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="What the document was rendered from (stored_documents.key).", max_length=200
                    ),
                ),
                ("body", models.BinaryField()),
            ],
            options={
                "ordering": ["case"],
            },
        ),
        migrations.RunPython(create_counter, migrations.RunPython.noop),
    ]
