"""Drop the index on DecisionRecord.decision (three values; no query narrowed by it).

Dropped with ``DROP INDEX``: Django's SQLite ``AlterField`` would rebuild the
table and take the append-only triggers with it (infrastructure.indexes).
"""

from django.db import migrations, models

from infrastructure.indexes import field_index_removal


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [
        field_index_removal("audit", "decisionrecord", "decision", models.CharField(editable=False, max_length=8)),
    ]
