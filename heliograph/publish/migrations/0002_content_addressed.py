"""Snapshots become manifests over bodies stored once (content-addressed).

Old snapshots are dropped: the publisher renders every page again in full at start."""

import django.db.models.deletion
import django.utils.timezone
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def drop_snapshots(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("publish", "Snapshot").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_touch"),
        ("publish", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drop_snapshots, migrations.RunPython.noop),
        migrations.DeleteModel(name="Artifact"),
        migrations.AddField(
            model_name="snapshot",
            name="manifest",
            field=models.BinaryField(default=b""),
        ),
        migrations.AddField(
            model_name="snapshot",
            name="base_version",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="Blob",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=32)),
                ("body", models.BinaryField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "page",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="blobs",
                        to="catalog.page",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(models.F("page"), models.F("name"), name="unique_page_blob")
                ],
            },
        ),
    ]
