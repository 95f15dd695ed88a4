"""Apply the role map again: case records for auditors and admins, the review settings for admins (issue 14)."""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_role_change_records_readable"),
        ("applications", "0006_case_lifecycle"),
        ("audit", "0007_case_records"),
        ("reviews", "0002_seed_reason_codes"),
    ]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
