"""Apply the role map (``accounts.roles.ROLE_PERMISSIONS``) to the role groups.

Replaces the two earlier paths (a data migration in ``applications`` and a
post-migrate handler in ``audit``). Later changes to the map come with a new
migration that calls ``apply_role_map`` again.
"""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0004_override_permission"),
        ("audit", "0004_override_permission_moved"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
