from django.db import migrations

#: the periodic job that sends again the imports left queued (beat and the embedded
#: scheduler read it)
SCHEDULE = ("Start imports left queued", "improvement.tasks.itsm_imports_start_queued", 1,
            "minutes")  # fmt: skip


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    name, task, every, period = SCHEDULE
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    PeriodicTask.objects.get_or_create(
        name=name, defaults={"task": task, "interval": interval, "enabled": True}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=SCHEDULE[0]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("improvement", "0023_owner_sort"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
