"""Role changes get their own hash chain: the table, its append-only triggers, its chain head."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from audit import db_triggers

TABLES = ("audit_rolechangerecord",)


def install_triggers(apps, schema_editor):
    db_triggers.install(schema_editor.connection, TABLES)


def drop_triggers(apps, schema_editor):
    db_triggers.drop(schema_editor.connection, TABLES)


def create_chain_head(apps, schema_editor):
    apps.get_model("audit", "ChainHead").objects.get_or_create(name="role_changes")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_anonymous_access_tally"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RoleChangeRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sequence", models.BigIntegerField(editable=False, unique=True)),
                ("previous_hash", models.CharField(editable=False, max_length=64, unique=True)),
                ("record_hash", models.CharField(editable=False, max_length=64, unique=True)),
                (
                    "payload",
                    models.TextField(editable=False, help_text="Canonical JSON the record hash is computed from."),
                ),
                ("created_at", models.DateTimeField(db_index=True, editable=False)),
                (
                    "action",
                    models.CharField(
                        choices=[("grant", "granted"), ("revoke", "revoked")], editable=False, max_length=8
                    ),
                ),
                ("role", models.CharField(editable=False, max_length=32)),
                ("actor_name", models.CharField(editable=False, max_length=150)),
                (
                    "channel",
                    models.CharField(
                        choices=[("command", "manage.py command"), ("admin", "admin site")],
                        editable=False,
                        max_length=8,
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ("sequence",),
                "abstract": False,
                "base_manager_name": "objects",
                "default_manager_name": "objects",
            },
        ),
        migrations.RunPython(install_triggers, drop_triggers),
        migrations.RunPython(create_chain_head, migrations.RunPython.noop),
    ]
