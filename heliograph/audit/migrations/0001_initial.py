# The audit log moved here from accounts: its table is taken over as it is (state only),
# then given this app's name.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("accounts", "0002_setup_token"),
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("actor", models.CharField(help_text='"user:alice", "key:deploy-bot", "cli"', max_length=255)),
                        ("action", models.CharField(help_text='e.g. "incident.create"', max_length=64)),
                        ("target_type", models.CharField(max_length=32)),
                        ("target_id", models.CharField(max_length=64)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("page", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="catalog.page")),
                    ],
                    options={"ordering": ["-at", "-id"], "db_table": "accounts_auditevent"},
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="auditevent", table=None),
    ]
