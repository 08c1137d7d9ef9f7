"""One FilterSet per list, shared by the HTML register and the API."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q

from . import choices
from .models import (
    KPI,
    Benefit,
    Goal,
    Initiative,
    Measurement,
    Practice,
    Service,
    stale_condition,
)
from .worklists import review_due_condition

User = get_user_model()


class BlanksLastOrderingFilter(django_filters.OrderingFilter):
    """Ordering whose optional fields (`blanks_last`) put rows without a value last, in
    either direction: "due soonest first" and "due latest first" both end with the undated."""

    def __init__(self, *args, blanks_last=(), **kwargs):
        self.blanks_last = set(blanks_last)
        super().__init__(*args, **kwargs)

    def get_ordering_value(self, param):
        value = super().get_ordering_value(param)
        field = value.lstrip("-")
        if field not in self.blanks_last:
            return value
        if value.startswith("-"):
            return F(field).desc(nulls_last=True)
        return F(field).asc(nulls_last=True)


#: the 1-5 scale of an initiative's value, effort and urgency
SCALE_CHOICES = [(n, str(n)) for n in range(1, 6)]


class RegisterOrderingFilter(BlanksLastOrderingFilter):
    """The register's ordering, with `days_in_step` (fewest days first; `-days_in_step`:
    longest in its step first), which is the step-entry instant the other way round."""

    def get_ordering_value(self, param):
        descending = param.startswith("-")
        if param.lstrip("-") == "days_in_step":
            return "step_entered_at" if descending else "-step_entered_at"
        return super().get_ordering_value(param)


class InitiativeFilterSet(django_filters.FilterSet):
    """Filter the register by step, health, source, value, effort (the portfolio's
    value/effort cells), service, practice, priority, owner, goal
    (`no_goal=true`: linked to none), PDCA `phase` (the steps of the phase,
    choices.PDCA_STEPS), `no_realised_benefit=true` (no benefit with a realised amount);
    `scope=open` for the open initiatives alone (`all`: every one); free-text `search` over
    reference, title, description and external id; `ordering` (blank due dates last)."""

    # columns of the initiative itself: no join, so no duplicate rows, and no DISTINCT
    # (django-filter's default for these, which sorts every matching row before paging)
    step = django_filters.MultipleChoiceFilter(choices=choices.Step.choices, distinct=False)
    health = django_filters.MultipleChoiceFilter(choices=choices.Health.choices, distinct=False)
    source = django_filters.MultipleChoiceFilter(choices=choices.Source.choices, distinct=False)
    priority = django_filters.MultipleChoiceFilter(choices=choices.Priority.choices, distinct=False)
    value = django_filters.MultipleChoiceFilter(
        choices=SCALE_CHOICES, label="Value", distinct=False
    )
    effort = django_filters.MultipleChoiceFilter(
        choices=SCALE_CHOICES, label="Effort", distinct=False
    )
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
        queryset=Goal.objects.all(),
        field_name="goals",
        label="Goal",
    )
    no_goal = django_filters.ChoiceFilter(
        choices=(("true", "Linked to no goal"), ("false", "Linked to a goal")),
        method="filter_no_goal",
        label="Not linked to a goal",
    )
    scope = django_filters.ChoiceFilter(
        choices=(
            ("open", "Open initiatives (not closed, rejected or cancelled)"),
            ("all", "All initiatives, closed, rejected and cancelled too"),
        ),
        method="filter_scope",
        label="Open or all",
    )
    phase = django_filters.MultipleChoiceFilter(
        choices=choices.PDCAPhase.choices, method="filter_phase", label="PDCA phase",
        distinct=False,
    )  # fmt: skip
    no_realised_benefit = django_filters.ChoiceFilter(
        choices=(("true", "No realised benefit"), ("false", "A realised benefit")),
        method="filter_no_realised_benefit",
        label="Without a realised benefit",
    )
    responsible = django_filters.ModelChoiceFilter(
        queryset=User.objects.all(), to_field_name="username", label="Responsible"
    )
    consulted = django_filters.ModelChoiceFilter(
        queryset=User.objects.all(), to_field_name="username", label="Consulted"
    )
    informed = django_filters.ModelChoiceFilter(
        queryset=User.objects.all(), to_field_name="username", label="Informed"
    )
    stale = django_filters.ChoiceFilter(
        choices=(("true", "Stale (no recent activity)"), ("false", "Not stale")),
        method="filter_stale",
        label="Stale",
    )
    review_due = django_filters.ChoiceFilter(
        choices=(("true", "Review due"),), method="filter_review_due", label="Review due"
    )
    external_system = django_filters.CharFilter()
    external_id = django_filters.CharFilter()
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    search = django_filters.CharFilter(method="filter_search", label="Search")
    ordering = RegisterOrderingFilter(
        blanks_last=("due_date",),
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
            ("owner_sort", "owner"),  # the owner's username, kept on the row
            ("step_entered_at", "days_in_step"),
        ),
    )

    class Meta:
        model = Initiative
        fields = []

    def filter_no_goal(self, queryset, name, value):
        linked = Exists(Initiative.goals.through.objects.filter(initiative=OuterRef("pk")))
        return queryset.filter(~linked if value == "true" else linked)

    def filter_phase(self, queryset, name, value):
        steps = [step for phase in value for step in choices.PDCA_STEPS[phase]]
        return queryset.filter(step__in=steps) if value else queryset

    def filter_no_realised_benefit(self, queryset, name, value):
        realised = Exists(
            Benefit.objects.filter(initiative=OuterRef("pk"), realised_amount__isnull=False)
        )
        return queryset.filter(~realised if value == "true" else realised)

    def filter_stale(self, queryset, name, value):
        return queryset.filter(stale_condition() if value == "true" else ~stale_condition())

    def filter_review_due(self, queryset, name, value):
        return queryset.filter(review_due_condition())

    def filter_scope(self, queryset, name, value):
        if value == "open":
            return queryset.filter(step__in=choices.OPEN_STEPS)
        return queryset

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

    status = django_filters.MultipleChoiceFilter(choices=choices.KPIStatus.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=choices.KPIKind.choices, distinct=False)
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
