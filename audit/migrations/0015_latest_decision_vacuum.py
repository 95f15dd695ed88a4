from django.db import migrations


def vacuum(apps, schema_editor):
    """PostgreSQL: VACUUM (ANALYZE) the table 0014 filled, as autovacuum would in time.

    Without it the visibility map is empty, so the simulator's index-only scans visit the table for every
    row and the planner prefers whole-table scans (docs/performance.md). VACUUM cannot run in a
    transaction, hence a migration of its own, not atomic.
    """
    if schema_editor.connection.vendor == "postgresql" and not schema_editor.connection.in_atomic_block:
        schema_editor.execute("VACUUM (ANALYZE) audit_latestdecision")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0014_latest_decision"),
    ]

    operations = [
        migrations.RunPython(vacuum, migrations.RunPython.noop),
    ]
