"""Apply the role map again: admins propose and approve model activations and cut-offs."""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_serving_state_and_proposals"),
        ("monitoring", "0002_role_map"),
    ]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
