"""Dropping a field's own index in a migration without rebuilding its table.

On SQLite, Django applies any ``AlterField`` (``db_index`` included) by
copying the table into a new one. For the audit tables that would also drop
their append-only triggers (``audit.db_triggers``), and on a large table it
copies every row for what is one ``DROP INDEX``. ``drop_field_index`` finds
the field's single-column, non-unique indexes by introspection (on
PostgreSQL a ``CharField`` also has a ``*_like`` pattern index) and drops
them; ``add_field_index`` puts an equivalent index back. Use both through
``field_index_removal`` inside ``SeparateDatabaseAndState``, beside the
``AlterField(db_index=False)`` that records the change in the migration state.
"""

from __future__ import annotations

from django.db import migrations, models


def _indexes_on(schema_editor, table: str, column: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return sorted(
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]
    )


def drop_field_index(schema_editor, *, table: str, column: str) -> list[str]:
    """Drop every plain single-column index on ``table.column``; return their names."""
    names = _indexes_on(schema_editor, table, column)
    for name in names:
        schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")
    return names


def add_field_index(schema_editor, model, *, field_name: str) -> None:
    """Index ``field_name`` again, as ``db_index=True`` would (reverse of ``drop_field_index``)."""
    column = model._meta.get_field(field_name).column
    if not _indexes_on(schema_editor, model._meta.db_table, column):
        # Within PostgreSQL's 63-character identifier limit.
        name = f"{model._meta.db_table}_{column}"[:59] + "_idx"
        schema_editor.add_index(model, models.Index(fields=[field_name], name=name))


def field_index_removal(
    app_label: str, model_name: str, field_name: str, new_field
) -> migrations.SeparateDatabaseAndState:
    """``AlterField(..., new_field)`` in the state; in the database only ``DROP INDEX``."""

    def forwards(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        drop_field_index(schema_editor, table=model._meta.db_table, column=model._meta.get_field(field_name).column)

    def backwards(apps, schema_editor):
        add_field_index(schema_editor, apps.get_model(app_label, model_name), field_name=field_name)

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=field_name, field=new_field)],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )
