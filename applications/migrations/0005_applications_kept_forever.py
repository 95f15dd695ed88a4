"""No loan application is ever deleted: a database trigger refuses DELETE
(and TRUNCATE on PostgreSQL) on the applications table, whatever the
status. Updates stay allowed (scoring a pending application, overrides)."""

from django.db import migrations

from audit import db_triggers

TABLES = ("applications_loanapplication",)


def install(apps, schema_editor):
    db_triggers.install_no_delete(schema_editor.connection, TABLES)


def drop(apps, schema_editor):
    db_triggers.drop_no_delete(schema_editor.connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [("applications", "0004_override_permission")]

    operations = [migrations.RunPython(install, drop)]
