"""The starting list of reason codes (``reviews.reason_codes.SEED_REASON_CODES``); admins manage it afterwards."""

from django.db import migrations


def seed(apps, schema_editor):
    from reviews.reason_codes import seed_reason_codes

    seed_reason_codes(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_reason_codes_and_limits")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
