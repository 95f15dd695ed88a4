"""The case lifecycle (issue 14): one current state per application, and the queue's partial index.

Existing rows get the state their records imply (``audit.lifecycle``): unscored -> PENDING; a decision
in force of REVIEW -> IN_QUEUE; overridden by a reviewer (an ``OverrideRecord`` exists) to APPROVE or
DECLINE -> DECIDED; otherwise the model's APPROVE/DECLINE -> MODEL_FINAL. ``case_version`` starts at 0:
it counts case records, of which there are none yet.

On SQLite, adding NOT NULL columns rebuilds the table, which drops its DELETE-refusing trigger
(migration 0005); it is installed again at the end.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q

from audit import db_triggers

TABLES = ("applications_loanapplication",)


def set_case_states(apps, schema_editor):
    LoanApplication = apps.get_model("applications", "LoanApplication")
    OverrideRecord = apps.get_model("audit", "OverrideRecord")
    rows = LoanApplication.objects.using(schema_editor.connection.alias)
    scored = rows.filter(status="SCORED")
    scored.filter(final_decision="REVIEW").update(case_state="IN_QUEUE")
    overridden = Exists(OverrideRecord.objects.filter(application_id=OuterRef("pk")))
    final = scored.filter(~Q(final_decision="REVIEW"))
    final.filter(overridden).update(case_state="DECIDED")
    final.filter(~overridden).update(case_state="MODEL_FINAL")


def reinstall_no_delete(apps, schema_editor):
    db_triggers.install_no_delete(schema_editor.connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0005_applications_kept_forever"),
        ("audit", "0005_anonymous_access_tally"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Migrating back rebuilds the table again (RemoveField on SQLite): this runs last then.
        migrations.RunPython(migrations.RunPython.noop, reinstall_no_delete),
        migrations.AlterModelOptions(
            name="loanapplication",
            options={
                "ordering": ("-created_at", "-id"),
                "permissions": [
                    ("view_all_loanapplications", "Can see every officer's applications"),
                    (
                        "override_decision",
                        "Can decide review cases and override model decisions (never on own applications)",
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="loanapplication",
            name="case_state",
            field=models.CharField(
                choices=[
                    ("PENDING", "Not scored yet"),
                    ("MODEL_FINAL", "Final (model decision)"),
                    ("IN_QUEUE", "In the review queue"),
                    ("CLAIMED", "Claimed by a reviewer"),
                    ("AWAITING_2ND", "Awaiting second approval"),
                    ("DECIDED", "Final (decided in review)"),
                ],
                default="PENDING",
                editable=False,
                max_length=12,
                verbose_name="Case state",
            ),
        ),
        migrations.AddField(
            model_name="loanapplication",
            name="case_version",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="loanapplication",
            name="claim_expires_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="loanapplication",
            name="claimed_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="loanapplication",
            name="proposed_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="loanapplication",
            name="proposed_decision",
            field=models.CharField(
                blank=True,
                choices=[("APPROVE", "Approve"), ("REVIEW", "Review"), ("DECLINE", "Decline")],
                editable=False,
                max_length=8,
            ),
        ),
        migrations.AddIndex(
            model_name="loanapplication",
            index=models.Index(
                condition=models.Q(("case_state__in", ("IN_QUEUE", "CLAIMED", "AWAITING_2ND"))),
                fields=["created_at", "id", "officer"],
                name="loanapp_open_cases",
            ),
        ),
        migrations.RunPython(set_case_states, migrations.RunPython.noop),
        migrations.RunPython(reinstall_no_delete, migrations.RunPython.noop),
    ]
