"""Room on each page of ``notify_delivery`` (PostgreSQL): claiming a delivery changes only
unindexed columns, so with free space beside the row the update stays on its page and
writes no index entry (a HOT update). A fan-out claims every row once."""

from typing import Any

from django.db import migrations

FILLFACTOR = 60


def set_fillfactor(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE notify_delivery SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE notify_delivery RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("notify", "0004_fewer_delivery_indexes")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
