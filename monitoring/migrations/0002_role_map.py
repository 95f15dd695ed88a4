"""Apply the role map again: reviewers, auditors and admins see the monitoring pages; admins record outcomes."""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_aggregates"),
        ("audit", "0008_outcome_records"),
        ("accounts", "0004_review_workflow_permissions"),
    ]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
