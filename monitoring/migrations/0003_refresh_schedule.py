"""Schedule the monitoring refresh on the task queue: every 5 minutes, forever."""

from django.db import migrations


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="monitoring: refresh aggregates",
        defaults={"func": "monitoring.tasks.refresh", "schedule_type": "I", "minutes": 5, "repeats": -1},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="monitoring: refresh aggregates").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_role_map"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
