"""The database itself sets a webhook delivery's event to NULL when the event is deleted.

Django's SET_NULL runs in the deleting process: it looks up the deliveries that refer to the
events, nulls them, then deletes the events. The webhook lane creates deliveries all the time, so
one created between that look-up and the delete made the whole delete fail at commit (a retention
purge batch, a benchmark's clean-up, an admin deleting a message). With ON DELETE SET NULL in the
foreign key, PostgreSQL handles the ones Django did not see. Other databases keep Django's
behaviour (SQLite lets one writer at a time). A later migration that alters this field would
recreate the constraint without it: repeat this there.
"""

from django.db import migrations

TABLE = "status_webhooks_webhookdelivery"
COLUMN = "delivery_event_id"


def _foreign_key_name(schema_editor) -> str | None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    for name, details in constraints.items():
        if details["foreign_key"] and details["columns"] == [COLUMN]:
            return name
    return None


def _recreate(schema_editor, on_delete: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    name = _foreign_key_name(schema_editor)
    if name is None:
        return
    quote = schema_editor.quote_name
    schema_editor.execute(f"ALTER TABLE {quote(TABLE)} DROP CONSTRAINT {quote(name)}")
    schema_editor.execute(
        f"ALTER TABLE {quote(TABLE)} ADD CONSTRAINT {quote(name)} FOREIGN KEY ({quote(COLUMN)}) "
        f'REFERENCES "delivery_deliveryevent" ("id") {on_delete} DEFERRABLE INITIALLY DEFERRED'
    )


def set_null_in_database(apps, schema_editor) -> None:
    _recreate(schema_editor, "ON DELETE SET NULL")


def leave_it_to_django(apps, schema_editor) -> None:
    _recreate(schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [
        ("status_webhooks", "0001_status_webhooks"),
        ("delivery", "0007_delivery_event_pause_steps"),
    ]

    operations = [migrations.RunPython(set_null_in_database, leave_it_to_django)]
