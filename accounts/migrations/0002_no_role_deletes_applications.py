"""Apply the role map again: the admin role no longer holds ``delete_loanapplication``.

No application may be deleted (applications/migrations/0005 makes the
database refuse it); the role map now says so too.
"""

from django.db import migrations


def apply_role_map(apps, schema_editor):
    from accounts.roles import apply_role_map

    apply_role_map(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_role_map"), ("applications", "0005_applications_kept_forever")]

    operations = [migrations.RunPython(apply_role_map, migrations.RunPython.noop)]
