"""Audit history for measurements and webhooks (the secret stays out of it; its
fingerprint goes in)."""


import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def fingerprint_secrets(apps, schema_editor):
    """The fingerprint of every stored secret (what the history shows of a rotation)."""
    import hashlib

    Webhook = apps.get_model("improvement", "Webhook")
    for webhook in Webhook.objects.only("pk", "secret"):
        fingerprint = hashlib.sha256(webhook.secret.encode("utf-8")).hexdigest()[:12]
        Webhook.objects.filter(pk=webhook.pk).update(secret_fingerprint=fingerprint)


class Migration(migrations.Migration):

    dependencies = [
        ('improvement', '0011_verdict_integrity'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='webhook',
            name='secret_fingerprint',
            field=models.CharField(blank=True, editable=False, help_text="The start of the secret's SHA-256: tells secrets apart without showing one.", max_length=16),
        ),
        migrations.CreateModel(
            name='HistoricalMeasurement',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('value', models.FloatField()),
                ('measured_at', models.DateTimeField()),
                ('source', models.CharField(blank=True, max_length=64)),
                ('note', models.CharField(blank=True, max_length=500)),
                ('recorded_at', models.DateTimeField(blank=True, editable=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('kpi', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='improvement.kpi')),
                ('recorded_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical measurement',
                'verbose_name_plural': 'historical measurements',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalWebhook',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('created_at', models.DateTimeField(blank=True, db_index=True, editable=False, verbose_name='created')),
                ('updated_at', models.DateTimeField(blank=True, editable=False, verbose_name='updated')),
                ('name', models.CharField(max_length=100)),
                ('url', models.URLField(max_length=500, verbose_name='URL')),
                ('event_types', models.JSONField(blank=True, default=list, help_text='Event types to deliver; empty for all.')),
                ('active', models.BooleanField(db_index=True, default=True)),
                ('secret_fingerprint', models.CharField(blank=True, editable=False, help_text="The start of the secret's SHA-256: tells secrets apart without showing one.", max_length=16)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('created_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical webhook',
                'verbose_name_plural': 'historical webhooks',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RunPython(fingerprint_secrets, migrations.RunPython.noop),
    ]
