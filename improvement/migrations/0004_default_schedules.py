"""The default periodic tasks: the KPI sweep, pending-event dispatch and overdue actions.

Created once; operators edit the intervals in the admin (django-celery-beat).
"""

from django.db import migrations

SCHEDULES = [
    # (name, task, every, period)
    ("Check all live KPIs", "improvement.tasks.kpis_sweep", 15, "minutes"),
    ("Dispatch pending events", "improvement.tasks.events_dispatch_pending", 1, "minutes"),
    ("Flag overdue actions", "improvement.tasks.actions_flag_overdue", 1, "hours"),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, period in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "enabled": True}
        )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[s[0] for s in SCHEDULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("improvement", "0003_measurements_and_checks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
