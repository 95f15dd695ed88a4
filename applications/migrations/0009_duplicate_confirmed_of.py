"""LoanApplication.duplicate_of: the earlier application an officer confirmed this one is not a second entry of.

The no-DELETE trigger is installed again afterwards, in case the database
rebuilt the table to add the column (SQLite does for some column changes).
"""

import django.db.models.deletion
from django.db import migrations, models

from audit import db_triggers

TABLES = ("applications_loanapplication",)


def reinstall_no_delete(apps, schema_editor):
    db_triggers.install_no_delete(schema_editor.connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0008_pending_scorer_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="loanapplication",
            name="duplicate_of",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="applications.loanapplication",
            ),
        ),
        migrations.RunPython(reinstall_no_delete, migrations.RunPython.noop),
    ]
