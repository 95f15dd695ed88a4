"""DecisionRecord.outside_experience: the decision was REVIEW because an input was outside the model's training ranges.

On SQLite, adding a column remakes the table, which drops its append-only
triggers: they are installed again in the same migration.
"""

from django.db import migrations, models

from audit import db_triggers


def reinstall_triggers(apps, schema_editor):
    db_triggers.install(schema_editor.connection, ("audit_decisionrecord",))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0009_governance_chain"),
    ]

    operations = [
        migrations.AddField(
            model_name="decisionrecord",
            name="outside_experience",
            field=models.BooleanField(default=False, db_default=False, editable=False),
        ),
        migrations.RunPython(reinstall_triggers, migrations.RunPython.noop),
    ]
