"""The admin's decision records filtered by model version, in chain order, from one index (issue 16).

The model version's own index is dropped with ``DROP INDEX`` (no SQLite table
rebuild, which would take the append-only triggers with it:
infrastructure.indexes); ``decision_version_sequence`` starts with it.
"""

from django.db import migrations, models

from infrastructure.indexes import field_index_removal


class Migration(migrations.Migration):
    dependencies = [("audit", "0010_decision_outside_experience")]

    operations = [
        field_index_removal(
            "audit", "decisionrecord", "model_version", models.CharField(editable=False, max_length=64)
        ),
        migrations.AddIndex(
            model_name="decisionrecord",
            index=models.Index(fields=["model_version", "sequence"], name="decision_version_sequence"),
        ),
    ]
