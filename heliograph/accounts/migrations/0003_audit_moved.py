# The audit log is the audit app's now (audit/0001 took the table over).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_setup_token"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
