"""One FilterSet per list, shared by the HTML register and the API."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q

from . import choices
from .models import KPI, Goal, Initiative, Measurement, Practice, Service

User = get_user_model()


class InitiativeFilterSet(django_filters.FilterSet):
    """Filter the register by step, health, source, service, practice, priority, owner, goal;
    free-text `search` over reference, title, description and external id; `ordering`."""

    step = django_filters.MultipleChoiceFilter(choices=choices.Step.choices)
    health = django_filters.MultipleChoiceFilter(choices=choices.Health.choices)
    source = django_filters.MultipleChoiceFilter(choices=choices.Source.choices)
    priority = django_filters.MultipleChoiceFilter(choices=choices.Priority.choices)
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(), to_field_name="name", label="Service"
    )
    practice = django_filters.ModelChoiceFilter(
        queryset=Practice.objects.all(), to_field_name="name", label="Practice"
    )
    accountable = django_filters.ModelChoiceFilter(
        queryset=User.objects.all(), to_field_name="username", label="Owner (accountable)"
    )
    goal = django_filters.ModelChoiceFilter(
        queryset=Goal.objects.all(), field_name="goals", label="Goal"
    )
    external_system = django_filters.CharFilter()
    external_id = django_filters.CharFilter()
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    search = django_filters.CharFilter(method="filter_search", label="Search")
    ordering = django_filters.OrderingFilter(
        fields=(
            ("reference", "reference"),
            ("title", "title"),
            ("step", "step"),
            ("health", "health"),
            ("priority", "priority"),
            ("score", "score"),
            ("due_date", "due_date"),
            ("created_at", "created_at"),
            ("updated_at", "updated_at"),
            ("accountable__username", "owner"),
        )
    )

    class Meta:
        model = Initiative
        fields = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(reference__icontains=value)
            | Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(external_id__iexact=value)
        )


class KPIFilterSet(django_filters.FilterSet):
    """Filter KPIs by initiative, status, kind and key."""

    status = django_filters.MultipleChoiceFilter(choices=choices.KPIStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=choices.KPIKind.choices)
    initiative = django_filters.NumberFilter(field_name="initiative_id")
    key = django_filters.CharFilter()

    class Meta:
        model = KPI
        fields = []


class MeasurementFilterSet(django_filters.FilterSet):
    """Measurements of a KPI between two instants (API: `since`, `until`, inclusive)."""

    since = django_filters.IsoDateTimeFilter(field_name="measured_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="measured_at", lookup_expr="lte")

    class Meta:
        model = Measurement
        fields = []


class UserFilterSet(django_filters.FilterSet):
    """Users by username and by role (a CIR group)."""

    username = django_filters.CharFilter()
    role = django_filters.ChoiceFilter(
        field_name="groups__name", choices=choices.Role.choices, label="Role"
    )

    class Meta:
        model = User
        fields = []
