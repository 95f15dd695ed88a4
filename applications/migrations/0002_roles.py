"""Create the four role groups with their model permissions (history: accounts/migrations/0001_role_map.py now applies accounts.roles).

Permissions are normally created after ``migrate`` finishes (post_migrate),
which is too late for a data migration on a fresh database, so they are
created here first. The mapping is frozen in this file on purpose: a
migration must keep doing what it did when it was written, whatever
the role map says later.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "officer": ("add_loanapplication", "view_loanapplication"),
    "reviewer": ("add_loanapplication", "view_loanapplication", "view_all_loanapplications"),
    "auditor": ("view_loanapplication", "view_all_loanapplications"),
    "admin": (
        "add_loanapplication",
        "view_loanapplication",
        "view_all_loanapplications",
        "change_loanapplication",
        "delete_loanapplication",
    ),
}


def create_roles(apps, schema_editor):
    for label in ("auth", "applications"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.filter(content_type__app_label="applications", codename__in=codenames)
        group.permissions.add(*permissions)
    # The admin role also manages who holds which role.
    Group.objects.get(name="admin").permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", content_type__model__in=("user", "group"))
    )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
