"""Apply the role map again: admins manage API tokens (``api.add_apitoken`` and friends)."""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_api_tokens"), ("accounts", "0003_role_change_records_readable")]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
