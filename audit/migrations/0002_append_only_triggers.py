"""Database-level immutability: triggers refusing UPDATE and DELETE (and
TRUNCATE on PostgreSQL) on the audit tables, in the dialect of the database
being migrated; plus the two chain-head rows appenders lock."""

from django.db import migrations

from audit import db_triggers

# The tables that existed at this migration; later ones install their own.
TABLES = ("audit_decisionrecord", "audit_overriderecord", "audit_accessevent")


def install_triggers(apps, schema_editor):
    # Chosen by schema_editor.connection.vendor (SQLite / PostgreSQL variants).
    # Executed without parameters: the PL/pgSQL body contains literal '%'.
    db_triggers.install(schema_editor.connection, TABLES)


def drop_triggers(apps, schema_editor):
    db_triggers.drop(schema_editor.connection, TABLES)


def create_chain_heads(apps, schema_editor):
    ChainHead = apps.get_model("audit", "ChainHead")
    for name in ("decisions", "overrides"):
        ChainHead.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(install_triggers, drop_triggers),
        migrations.RunPython(create_chain_heads, migrations.RunPython.noop),
    ]
