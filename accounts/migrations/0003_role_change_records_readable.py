"""Apply the role map again: auditors and admins may read the role-change records (audit 0006)."""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_no_role_deletes_applications"), ("audit", "0006_role_change_chain")]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
