"""Each body's gzip-compressed form, stored next to it (compressed once, at publish)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("publish", "0002_content_addressed"),
    ]

    operations = [
        migrations.AddField(
            model_name="blob",
            name="gzipped",
            field=models.BinaryField(blank=True, null=True),
        ),
    ]
