"""Creates the six roles of SPEC §5 as groups, with their model permissions, and the
ITIL 4 management practices."""

from django.db import migrations

VIEW_ONLY = ("view",)
ALL = ("add", "change", "delete", "view")

ROLES = {
    "Viewer": {"improvement": VIEW_ONLY},
    "Improvement team": {"improvement": VIEW_ONLY},
    "Service owner": {"improvement": VIEW_ONLY},
    "Process owner": {"improvement": VIEW_ONLY},
    "ITSM integration": {"improvement": VIEW_ONLY},
    "CSI manager": {
        "improvement": ALL,
        "django_celery_beat": ALL,
        "authtoken": ALL,
        "auth": ("view", "change", "add"),
    },
}

PRACTICES = [
    ("Incident management", "Minimise the negative impact of incidents by restoring normal service operation as quickly as possible."),
    ("Problem management", "Reduce the likelihood and impact of incidents by identifying actual and potential causes."),
    ("Change enablement", "Maximise the number of successful service and product changes."),
    ("Service request management", "Support the agreed quality of a service by handling service requests effectively."),
    ("Service desk", "Capture demand for incident resolution and service requests."),
    ("Service level management", "Set clear business-based targets for service levels."),
    ("Monitoring and event management", "Systematically observe services and components, and record and report changes of state."),
    ("Availability management", "Ensure that services deliver agreed levels of availability."),
    ("Capacity and performance management", "Ensure that services achieve agreed and expected performance."),
    ("Information security management", "Protect the information needed by the organisation."),
    ("Knowledge management", "Maintain and improve the effective, efficient and convenient use of information and knowledge."),
    ("Release management", "Make new and changed services and features available for use."),
    ("Deployment management", "Move new or changed hardware, software, documentation and processes to live environments."),
    ("Service configuration management", "Ensure that accurate and reliable information about configuration items is available."),
    ("IT asset management", "Plan and manage the full lifecycle of all IT assets."),
    ("Service continuity management", "Ensure that availability and performance are maintained at sufficient levels in a disaster."),
    ("Relationship management", "Establish and nurture links between the organisation and its stakeholders."),
    ("Supplier management", "Ensure that suppliers and their performance are managed appropriately."),
    ("Continual improvement", "Align practices and services with changing business needs through ongoing improvement."),
    ("Measurement and reporting", "Support good decision-making and continual improvement by decreasing uncertainty."),
    ("Risk management", "Ensure that the organisation understands and effectively handles risks."),
    ("Software development and management", "Ensure that applications meet stakeholder needs."),
]


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, actions in grants.items():
            for action in actions:
                perms = Permission.objects.filter(
                    content_type__app_label=app_label, codename__startswith=f"{action}_"
                )
                group.permissions.add(*perms)

    Practice = apps.get_model("improvement", "Practice")
    for name, description in PRACTICES:
        Practice.objects.get_or_create(name=name, defaults={"description": description})


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("improvement", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
