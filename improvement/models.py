"""The register's data: initiatives, their seven step records, KPIs and the logs around them.

Models hold fields, constraints, docstrings and the predicates of one row or queryset that
every interface asks (Initiative.is_final, Action.is_overdue and ActionQuerySet.overdue):
the workflow's rules live in workflow/, writes in services, reads in selectors.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Cast, Lower
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField
from simple_history.models import HistoricalRecords

from . import choices
from .webhooks import DeliveryStatus, generate_secret
from .workflow import InitiativeWorkflow

USER_MODEL = settings.AUTH_USER_MODEL
#: the largest magnitude a stored number may have, whichever door it comes in by (the API,
#: the pages, the admin): beyond it the KPI maths and the charts would overflow
FINITE_LIMIT = 1e300


#: value, urgency and effort run 1 to 5 whichever door they come in by
SCALE_VALIDATORS = [MinValueValidator(1), MaxValueValidator(5)]


def validate_finite(value) -> None:
    """A number of at most FINITE_LIMIT in magnitude (so not NaN or infinite)."""
    if value is not None and not (
        isinstance(value, int | float) and math.isfinite(value) and abs(value) <= FINITE_LIMIT
    ):
        raise ValidationError(
            f"A finite number of magnitude at most {FINITE_LIMIT:g} is required.",
            code="not_finite",
        )


class TimeStamped(models.Model):
    """Adds created_at / updated_at to every model that needs them."""

    created_at = models.DateTimeField("created", auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        abstract = True


class Goal(TimeStamped):
    """An organisational goal: the vision that initiatives serve (step 1)."""

    title = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_goals"
    )
    horizon = models.DateField("horizon date", null=True, blank=True)
    active = models.BooleanField(default=True, db_index=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Service(TimeStamped):
    """An IT service from the service catalogue; its owner acts as Service owner for it."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_services"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Practice(TimeStamped):
    """An ITIL 4 management practice; its owner acts as Process owner for it."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_practices"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def _range_1_5(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": 1, f"{field}__lte": 5}),
        name=f"%(app_label)s_%(class)s_{field}_1_to_5",
        violation_error_message=f"{field.capitalize()} must be between 1 and 5.",
    )


class Initiative(ConcurrentTransitionMixin, InitiativeWorkflow, TimeStamped):
    """One entry of the register, driven through the seven steps by workflow/.

    `step` is a protected FSM field: only `services.initiative_transition` moves it.
    `score` is computed by the database, so it is always current.
    """

    reference = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=32, choices=choices.Source, default=choices.Source.OTHER)
    external_system = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    external_url = models.URLField(max_length=500, blank=True)
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="initiatives"
    )
    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, null=True, blank=True, related_name="initiatives"
    )
    goals = models.ManyToManyField(Goal, blank=True, related_name="initiatives")
    value = models.PositiveSmallIntegerField(default=3, validators=SCALE_VALIDATORS)
    effort = models.PositiveSmallIntegerField(default=3, validators=SCALE_VALIDATORS)
    urgency = models.PositiveSmallIntegerField(default=3, validators=SCALE_VALIDATORS)
    score = models.GeneratedField(
        expression=Cast(F("value") + F("urgency"), models.FloatField()) / F("effort"),
        output_field=models.FloatField(),
        db_persist=True,
    )
    priority = models.CharField(
        max_length=2, choices=choices.Priority, default=choices.Priority.P3, db_index=True
    )
    priority_set_manually = models.BooleanField(
        default=False, help_text="Set by a CSI manager; otherwise derived from the score."
    )
    step = FSMField(
        max_length=16,
        choices=choices.Step,
        default=choices.Step.PROPOSED,
        protected=True,
        db_index=True,
    )
    health = models.CharField(
        max_length=16, choices=choices.Health, default=choices.Health.NONE, db_index=True
    )
    accountable = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="accountable_for"
    )
    #: the accountable owner's username, kept by the database (triggers of migration 0023,
    #: on the initiative's owner and on the user's name) for the register's sort by owner:
    #: an index walked in order instead of a join sorted whole
    owner_sort = models.CharField(max_length=150, null=True, blank=True, editable=False)
    responsible = models.ManyToManyField(USER_MODEL, blank=True, related_name="responsible_for")
    consulted = models.ManyToManyField(USER_MODEL, blank=True, related_name="consulted_on")
    informed = models.ManyToManyField(USER_MODEL, blank=True, related_name="informed_of")
    iteration = models.PositiveSmallIntegerField(default=1)
    due_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=24, choices=choices.Outcome, blank=True)
    outcome_override = models.TextField(
        blank=True,
        help_text="Why the outcome departs from what the KPIs of the last review say "
        "(empty: it agrees with them).",
    )
    closure_reason = models.TextField(blank=True, help_text="Why it was rejected or cancelled.")
    # on hold: where it was, why, and until when (workflow: hold / resume)
    held_from = models.CharField(
        max_length=16, choices=choices.Step, blank=True, help_text="The step it returns to."
    )
    hold_reason = models.TextField(blank=True)
    hold_until = models.DateField(null=True, blank=True, help_text="Resume by this date.")
    held_since = models.DateTimeField(null=True, blank=True)
    hold_days = models.PositiveIntegerField(
        default=0, help_text="Days spent on hold before the current hold (not counted as age)."
    )
    # what an ITSM integration proposed; a CSI manager's acceptance applies it
    suggested_accountable = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    suggested_goals = models.ManyToManyField(Goal, blank=True, related_name="+")
    created_by = models.ForeignKey(
        USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposed_initiatives",
    )
    # register hygiene (see services/hygiene.py): days in step, staleness, duplicates
    step_entered_at = models.DateTimeField(
        default=timezone.now, db_index=True, editable=False, help_text="When it entered its step."
    )
    last_activity_at = models.DateTimeField(
        default=timezone.now,
        db_index=True,
        editable=False,
        help_text="The last change to it or its records, comments, actions or measurements.",
    )
    stale_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When it was flagged stale (reported)."
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="duplicates",
        help_text="The initiative it was closed as a duplicate of.",
    )
    history = HistoricalRecords(
        m2m_fields=[goals, responsible, consulted, informed],
        excluded_fields=["score", "last_activity_at", "stale_since", "owner_sort"],
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            _range_1_5("value"),
            _range_1_5("effort"),
            _range_1_5("urgency"),
            # the same record whatever its case: ServiceNow / PRB0040012 = servicenow / prb0040012
            models.UniqueConstraint(
                Lower("external_system"),
                Lower("external_id"),
                condition=~Q(external_system="") & ~Q(external_id=""),
                name="%(app_label)s_%(class)s_unique_external_id",
                violation_error_message="Another initiative of the register already comes "
                "from this record of this ITSM tool.",
            ),
            models.CheckConstraint(
                condition=Q(iteration__gte=1), name="%(app_label)s_%(class)s_iteration_positive"
            ),
            models.CheckConstraint(
                condition=~Q(step="closed") | ~Q(outcome=""),
                name="%(app_label)s_%(class)s_closed_has_outcome",
            ),
        ]
        indexes = [
            models.Index(fields=["-score", "-created_at"], name="improvement_init_score_idx"),
            # the register's sort by due date, soonest first, its ties newest first
            models.Index(fields=["due_date", "-id"], name="improvement_init_due_id_idx"),
            models.Index(fields=["source"], name="improvement_init_source_idx"),
            # pages at scale: the portfolio's counts read this index alone, not the table
            models.Index(
                fields=["step", "health", "value", "effort", "id"],
                name="improvement_init_counts_idx",
            ),
            # the register's sorts by title and by last update (by due date latest first,
            # undated last: an index on PostgreSQL only, see migration 0014_pages_at_scale)
            models.Index(fields=["title"], name="improvement_init_title_idx"),
            models.Index(fields=["updated_at"], name="improvement_init_updated_idx"),
            # the register's sort by owner (either way), its ties newest first
            models.Index(fields=["owner_sort", "-id"], name="improvement_init_owner_idx"),
            models.Index(fields=["-owner_sort", "-id"], name="improvement_init_owner_d_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference or 'CIR-new'} {self.title}"

    @property
    def is_final(self) -> bool:
        """Closed, rejected or cancelled: nothing moves any more."""
        return self.step in choices.FINAL_STEPS

    @property
    def on_hold_days(self) -> int:
        """Whole days spent on hold, the current hold included."""
        current = (timezone.now() - self.held_since).days if self.held_since else 0
        return self.hold_days + current

    @property
    def age_days(self) -> int:
        """Days since it was registered, without the days it spent on hold."""
        return max(0, (timezone.now() - self.created_at).days - self.on_hold_days)

    @property
    def days_in_step(self) -> int:
        """Whole days since it entered its current step."""
        return max(0, (timezone.now() - self.step_entered_at).days)

    @property
    def days_inactive(self) -> int:
        """Whole days since the last activity on it (see last_activity_at)."""
        return max(0, (timezone.now() - self.last_activity_at).days)

    @property
    def is_stale(self) -> bool:
        """Open, not on hold, and no activity for CIR_STALE_DAYS (the rule of
        stale_condition, for one initiative)."""
        return self.step in choices.STALE_STEPS and self.last_activity_at < stale_cutoff()

    @property
    def is_overdue(self) -> bool:
        """Its due date has passed while it is still open."""
        return (
            self.due_date is not None and self.due_date < timezone.localdate() and not self.is_final
        )


def stale_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """The instant before which the last activity makes an initiative stale."""
    return (now or timezone.now()) - dt.timedelta(days=settings.CIR_STALE_DAYS)


def stale_condition(now: dt.datetime | None = None) -> Q:
    """Initiatives that are stale (Initiative.is_stale, in SQL)."""
    return Q(step__in=choices.STALE_STEPS, last_activity_at__lt=stale_cutoff(now))


class StepRecord(TimeStamped):
    """Base for the one-per-initiative records of steps 1–4 and 7."""

    updated_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} of {self.initiative}"


class Vision(StepRecord):
    """Step 1 — What is the vision? The initiative's goals are its `goals`."""

    initiative = models.OneToOneField(Initiative, on_delete=models.CASCADE, related_name="vision")
    statement = models.TextField(blank=True)
    stakeholders = models.TextField(blank=True)
    expected_value = models.TextField(blank=True)
    authority = models.TextField(blank=True, help_text="Who may decide to proceed.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative"]


class Baseline(StepRecord):
    """Step 2 — Where are we now? The narrative; KPI baselines live on each KPI."""

    initiative = models.OneToOneField(Initiative, on_delete=models.CASCADE, related_name="baseline")
    assessment = models.TextField(blank=True)
    method = models.TextField(blank=True)
    assessed_on = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative"]


class Target(StepRecord):
    """Step 3 — Where do we want to be? Objectives and CSFs; KPI targets live on each KPI."""

    initiative = models.OneToOneField(Initiative, on_delete=models.CASCADE, related_name="target")
    objectives = models.TextField(blank=True, help_text="SMART objectives.")
    csfs = models.TextField("critical success factors", blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative"]


class Plan(StepRecord):
    """Step 4 — How do we get there?"""

    initiative = models.OneToOneField(Initiative, on_delete=models.CASCADE, related_name="plan")
    approach = models.TextField(blank=True)
    hypotheses = models.TextField(blank=True, help_text="Experiments and their success criteria.")
    checkpoints = models.TextField(blank=True)
    risks = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative"]


class Sustain(StepRecord):
    """Step 7 — How do we keep the momentum going?"""

    initiative = models.OneToOneField(Initiative, on_delete=models.CASCADE, related_name="sustain")
    embedding = models.TextField(blank=True, help_text="Knowledge articles, training, controls.")
    lessons_learned = models.TextField(blank=True)
    monitor_until = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative"]
        verbose_name_plural = "sustain records"


class ActionQuerySet(models.QuerySet):
    def overdue(self, today: dt.date | None = None) -> ActionQuerySet:
        """Actions not done nor dropped, past their due date, of initiatives still open:
        the rule of Action.is_overdue, in SQL."""
        return self.filter(
            due_date__lt=today or timezone.localdate(),
            status__in=choices.OPEN_ACTION_STATUSES,
        ).exclude(initiative__step__in=choices.FINAL_STEPS)


class Action(TimeStamped):
    """Step 5 — one piece of work of the plan."""

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="actions")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="actions"
    )
    due_date = models.DateField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=16,
        choices=choices.ActionStatus,
        default=choices.ActionStatus.PLANNED,
        db_index=True,
    )
    notes = models.TextField(blank=True)
    iteration = models.PositiveSmallIntegerField(default=1)
    completed_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_on = models.DateField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    objects = ActionQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            # the longest overdue first (the portfolio's list): walked in order, never sorted
            models.Index(
                fields=["due_date", "id"],
                condition=Q(status__in=choices.OPEN_ACTION_STATUSES),
                name="improvement_act_open_due_idx",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        """Not done nor dropped, past its due date, on an initiative still open (the rule
        of ActionQuerySet.overdue, for one action)."""
        return (
            self.due_date is not None
            and self.due_date < timezone.localdate()
            and self.status in choices.OPEN_ACTION_STATUSES
            and not self.initiative.is_final
        )

    @property
    def days_overdue(self) -> int:
        """How many days past its due date (0 when it is not overdue)."""
        return (timezone.localdate() - self.due_date).days if self.is_overdue else 0


class Review(TimeStamped):
    """Step 6 — Did we get there? One per iteration, with the KPIs as they were that day."""

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="reviews")
    iteration = models.PositiveSmallIntegerField()
    kpi_snapshot = models.JSONField(default=list, blank=True, editable=False)
    progress_check = models.TextField(blank=True, help_text="Were the objectives achieved?")
    value_check = models.TextField(blank=True, help_text="Is it still relevant and valuable?")
    decision = models.CharField(max_length=20, choices=choices.Decision)
    decision_override = models.TextField(
        blank=True,
        help_text="Why the decision departs from what the KPI snapshot says (empty: it agrees).",
    )
    notes = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative", "iteration"]
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "iteration"], name="%(app_label)s_%(class)s_one_per_iteration"
            )
        ]

    def __str__(self) -> str:
        return f"Review {self.iteration} of {self.initiative}"


#: the longest rolling window of a KPI: a century
MAX_WINDOW_DAYS = 36_500
#: the dates a KPI's baseline and target may take
KPI_DATES = (dt.date(1900, 1, 1), dt.date(8999, 12, 31))
KPI_DATES_MESSAGE = "The date must lie between 1900 and 8999."
KPI_DATE_VALIDATORS = [
    MinValueValidator(KPI_DATES[0], message=KPI_DATES_MESSAGE),
    MaxValueValidator(KPI_DATES[1], message=KPI_DATES_MESSAGE),
]


class KPI(TimeStamped):
    """A key performance indicator of one initiative, checked against baseline and target."""

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="kpis")
    key = models.SlugField(max_length=100, unique=True, help_text="Stable key tools post to.")
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16, choices=choices.KPIKind, default=choices.KPIKind.PROCESS)
    direction = models.CharField(max_length=8, choices=choices.Direction)
    aggregation = models.CharField(
        max_length=8, choices=choices.Aggregation, default=choices.Aggregation.LATEST
    )
    window_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)]
    )
    baseline_value = models.FloatField(null=True, blank=True, validators=[validate_finite])
    baseline_date = models.DateField(null=True, blank=True, validators=KPI_DATE_VALIDATORS)
    target_value = models.FloatField(null=True, blank=True, validators=[validate_finite])
    target_date = models.DateField(null=True, blank=True, validators=KPI_DATE_VALIDATORS)
    tolerance = models.FloatField(default=0.05)
    csf = models.CharField("critical success factor", max_length=200, blank=True)
    # Kept by the checks (KPI issue): the latest verdict and when data/clock last moved.
    status = models.CharField(
        max_length=16, choices=choices.KPIStatus, default=choices.KPIStatus.NO_DATA, db_index=True
    )
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    data_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    checked_version = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The data_changed_at last checked."
    )
    derived = models.BooleanField(
        default=False,
        editable=False,
        help_text="Measured from ITSM records (its derivation); no measurement by hand.",
    )
    # the sweep reads a KPI only when this has come or its data changed (evaluation.next_change)
    next_check_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="The earliest moment the status can change without new data (none: never).",
    )  # fmt: skip
    history = HistoricalRecords(
        excluded_fields=[
            "status", "last_checked_at", "data_changed_at", "checked_version", "next_check_at",
        ]
    )  # fmt: skip

    class Meta:
        ordering = ["initiative", "name"]
        verbose_name = "KPI"
        # what a steady sweep reads (services.checks.due_q): KPIs whose moment has come, and
        # the few never checked or whose data changed since (a small partial index)
        indexes = [
            models.Index(fields=["next_check_at"], name="improvement_kpi_next_check"),
            models.Index(
                fields=["id"],
                condition=Q(checked_version__isnull=True)
                | Q(data_changed_at__gt=F("checked_version")),
                name="improvement_kpi_stale",
            ),
            # pages at scale: the portfolio's KPIs needing attention, counted and listed
            # from this index (status, then initiative) without reading the table
            models.Index(fields=["status", "initiative"], name="improvement_kpi_attention_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_value__isnull=True)
                | Q(baseline_value__isnull=True)
                | Q(direction="increase", target_value__gt=F("baseline_value"))
                | Q(direction="decrease", target_value__lt=F("baseline_value")),
                name="%(app_label)s_%(class)s_target_better_than_baseline",
                violation_error_message="The target must lie on the better side of the "
                "baseline: below it for a KPI that should decrease, above it for one that "
                "should increase.",
            ),
            models.CheckConstraint(
                condition=Q(target_date__isnull=True)
                | Q(baseline_date__isnull=True)
                | Q(target_date__gt=F("baseline_date")),
                name="%(app_label)s_%(class)s_target_date_after_baseline",
                violation_error_message="The target date must be after the baseline date.",
            ),
            models.CheckConstraint(
                condition=Q(tolerance__gte=0) & Q(tolerance__lte=1),
                name="%(app_label)s_%(class)s_tolerance_0_to_1",
                violation_error_message="The tolerance must be between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(window_days__gte=1) & Q(window_days__lte=MAX_WINDOW_DAYS),
                name="%(app_label)s_%(class)s_window_1_to_36500",
                violation_error_message=f"The window is 1 to {MAX_WINDOW_DAYS} days.",
            ),
            # the instants a check computes from these dates must exist (no year 10 000)
            models.CheckConstraint(
                condition=Q(baseline_date__isnull=True)
                | Q(baseline_date__gte=KPI_DATES[0], baseline_date__lte=KPI_DATES[1]),
                name="%(app_label)s_%(class)s_baseline_date_in_range",
                violation_error_message=KPI_DATES_MESSAGE,
            ),
            models.CheckConstraint(
                condition=Q(target_date__isnull=True)
                | Q(target_date__gte=KPI_DATES[0], target_date__lte=KPI_DATES[1]),
                name="%(app_label)s_%(class)s_target_date_in_range",
                violation_error_message=KPI_DATES_MESSAGE,
            ),
        ]

    def __str__(self) -> str:
        return self.name


class KPIRevision(models.Model):
    """One change of a KPI's definition: who, when, why, and each field's old → new value.

    Written by the KPI services with every definition change; a re-baseline by a CSI
    manager after step 3 carries its reason. Checks made before it stay as they were.
    """

    class Kind(models.TextChoices):
        DEFINED = "defined", "Defined"
        CHANGED = "changed", "Changed"
        REBASELINED = "rebaselined", "Re-baselined"

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="revisions")
    kind = models.CharField(max_length=12, choices=Kind)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    by = models.ForeignKey(USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    #: {field: [old, new]}, values as JSON (dates as ISO strings)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["kpi", "at", "id"]
        verbose_name = "KPI revision"

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class TransitionLog(models.Model):
    """One move of an initiative: written in the same transaction as the move."""

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="transitions")
    from_step = models.CharField(max_length=16, choices=choices.Step)
    to_step = models.CharField(max_length=16, choices=choices.Step)
    actor = models.ForeignKey(USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    comment = models.TextField(blank=True)
    iteration = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["initiative", "at", "id"]
        verbose_name = "transition"

    def __str__(self) -> str:
        return f"{self.initiative}: {self.from_step} → {self.to_step}"


class Counter(models.Model):
    """A named, ever-increasing number: initiative references are drawn from it.

    Incrementing it with an UPDATE locks the row until commit, so two creators never get
    the same number; a number is never reused because the counter only goes up.
    """

    name = models.CharField(max_length=32, primary_key=True)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Tally(models.Model):
    """Abstract base of the register's running counts (PostgreSQL): rows of a key and a
    signed count, summed per key to read them.

    Triggers on the counted tables (migration 0021) append a row per key a statement
    changed, +n or -n, so writers never wait on one another for a shared counter row;
    `services.tallies_fold` periodically replaces each key's rows by their sum. The pages'
    figures read these few rows instead of counting 100 000 initiatives. On other
    databases the tables stay empty and the same figures are counted directly
    (selectors.register_tally and its siblings).
    """

    id = models.BigAutoField(primary_key=True)
    n = models.BigIntegerField()

    class Meta:
        abstract = True
        ordering = ["id"]


class RegisterTally(Tally):
    """How many initiatives there are of each step, health, value, effort and whether they
    serve a goal."""

    step = models.CharField(max_length=16)
    health = models.CharField(max_length=16)
    value = models.SmallIntegerField()
    effort = models.SmallIntegerField()
    linked = models.BooleanField()

    class Meta(Tally.Meta):
        verbose_name_plural = "register tallies"

    def __str__(self) -> str:
        return f"{self.step}/{self.health}/{self.value}/{self.effort}/{self.linked}: {self.n}"


class GoalTally(Tally):
    """How many initiatives of each step and health serve each goal (the goal's id, kept
    without a reference: a deleted goal's rows sum to nothing and are folded away)."""

    goal_id = models.BigIntegerField()
    step = models.CharField(max_length=16)
    health = models.CharField(max_length=16)

    class Meta(Tally.Meta):
        verbose_name_plural = "goal tallies"

    def __str__(self) -> str:
        return f"goal {self.goal_id} {self.step}/{self.health}: {self.n}"


class KPITally(Tally):
    """How many KPIs there are of each verdict and step of their initiative."""

    status = models.CharField(max_length=16)
    step = models.CharField(max_length=16)

    class Meta(Tally.Meta):
        verbose_name_plural = "KPI tallies"

    def __str__(self) -> str:
        return f"{self.status}/{self.step}: {self.n}"


class ActionTally(Tally):
    """How many actions there are of each due date, status and step of their initiative."""

    due_date = models.DateField(null=True)
    status = models.CharField(max_length=16)
    step = models.CharField(max_length=16)

    class Meta(Tally.Meta):
        verbose_name_plural = "action tallies"

    def __str__(self) -> str:
        return f"{self.due_date}/{self.status}/{self.step}: {self.n}"


class Event(models.Model):
    """An outbound event (SPEC §4), recorded in the transaction of the change it reports.

    Webhook delivery reads these after commit, so an event is never sent for a change that
    rolled back, and never lost when the broker is down.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    type = models.CharField(max_length=40, choices=choices.EventType, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # the events still to dispatch: what the periodic dispatcher and /metrics read
            models.Index(
                fields=["created_at"],
                condition=Q(dispatched_at__isnull=True),
                name="improvement_event_undispatched",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Measurement(models.Model):
    """One data point of a KPI. (kpi, measured_at) is unique: re-sending a point updates it."""

    # no index of its own: the unique (kpi, measured_at) index serves every lookup by KPI
    kpi = models.ForeignKey(
        KPI, on_delete=models.CASCADE, related_name="measurements", db_index=False
    )
    value = models.FloatField(validators=[validate_finite])
    measured_at = models.DateTimeField()
    source = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now=True)
    # written by services.measurements (set-based, not through save()): overwrites, and
    # points recorded one KPI at a time
    history = HistoricalRecords()

    class Meta:
        ordering = ["kpi", "measured_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "measured_at"], name="%(app_label)s_%(class)s_one_per_instant"
            ),
            # finite only: PostgreSQL sorts NaN above every number, so this excludes it too
            models.CheckConstraint(
                condition=Q(value__gte=-FINITE_LIMIT) & Q(value__lte=FINITE_LIMIT),
                name="%(app_label)s_%(class)s_value_finite",
                violation_error_message="The value must be a finite number.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.measured_at:%Y-%m-%d %H:%M} = {self.value}"


class KPICheck(models.Model):
    """The verdict of a KPI at one time (SPEC §3); the rows of a KPI are its status history.

    A check whose data and status are those of the KPI's latest check only refreshes that
    row, so a check run twice on the same data leaves one row.
    """

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField(db_index=True)
    data_version = models.DateTimeField(
        null=True, blank=True, help_text="The KPI's data_changed_at that this check evaluated."
    )
    current = models.FloatField(null=True, blank=True)
    progress = models.FloatField(null=True, blank=True)
    expected = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=choices.KPIStatus)
    previous_status = models.CharField(max_length=16, choices=choices.KPIStatus, blank=True)
    measurement_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["kpi", "-checked_at"]
        verbose_name = "KPI check"
        indexes = [models.Index(fields=["kpi", "-checked_at"], name="improvement_check_latest")]
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "data_version", "status"],
                name="%(app_label)s_%(class)s_one_per_data_and_status",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M}"


# --- outbound webhooks (SPEC §4) ------------------------------------------------------


class Webhook(TimeStamped):
    """A receiver of outbound events, signed the Standard Webhooks way with its `secret`.

    `event_types` lists the event types it wants (choices.EventType); empty means all.
    """

    name = models.CharField(max_length=100)
    url = models.URLField("URL", max_length=500)
    secret = models.CharField(
        max_length=100,
        default=generate_secret,
        help_text="whsec_ + base64 of the HMAC key; shown to CSI managers.",
    )
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types to deliver; empty for all."
    )
    active = models.BooleanField(default=True, db_index=True)
    created_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    secret_fingerprint = models.CharField(
        max_length=16,
        blank=True,
        editable=False,
        help_text="The start of the secret's SHA-256: tells secrets apart without showing one.",
    )
    # the secret itself never goes into the history; its fingerprint does
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        """Whether this webhook subscribes to events of `event_type`."""
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(TimeStamped):
    """One event to one webhook: attempted until it succeeds or the attempts run out."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus, default=DeliveryStatus.PENDING, db_index=True
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    attempt_limit = models.PositiveSmallIntegerField(
        default=6, help_text="Given up after this many attempts (CIR_WEBHOOK_MAX_ATTEMPTS)."
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When it is due; empty once finished."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "event"], name="%(app_label)s_%(class)s_one_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.webhook}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what the receiver answered, or why it failed."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="%(app_label)s_%(class)s_one_per_number"
            )
        ]

    def __str__(self) -> str:
        outcome = self.status_code or self.error or "no answer"
        return f"attempt {self.number}: {outcome}"


# --- spreadsheets (register import) ------------------------------------------------------


class ImportMapping(TimeStamped):
    """A saved column mapping of a register import: {our field: their column header}, so
    the next file from the same spreadsheet maps itself (services.register_import)."""

    name = models.CharField(max_length=100, unique=True)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "import mapping"

    def __str__(self) -> str:
        return self.name


# --- reports, PDCA and benefits ---

#: the largest benefit amount (expected or realised) the register stores
BENEFIT_AMOUNT_LIMIT = 10**12


class Benefit(TimeStamped):
    """An expected benefit of an initiative (SPEC §10): a category, an amount with its unit
    or currency, and the KPI of the same initiative it rests on.

    What was realised is recorded at the review and at or after closing, as
    BenefitRealisation rows; the latest one is the realised figure to date, copied into
    `realised_amount` (and `realised_at`) so the portfolio sums it in one query. Expected
    and realised share the unit, so sums never add euros to hours.
    """

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="benefits")
    category = models.CharField(max_length=24, choices=choices.BenefitCategory)
    description = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(
        "expected amount",
        max_digits=15,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(BENEFIT_AMOUNT_LIMIT)],
    )
    unit = models.CharField(
        max_length=32,
        help_text="A currency as its ISO 4217 code (EUR, USD) or a unit (hours, points, %).",
    )
    kpi = models.ForeignKey(
        KPI,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="benefits",
        verbose_name="KPI it rests on",
    )
    realised_amount = models.DecimalField(
        max_digits=15, decimal_places=2, null=True, blank=True, editable=False
    )
    realised_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative", "category", "id"]
        indexes = [models.Index(fields=["category", "unit"], name="improvement_benefit_sums")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(amount__lte=BENEFIT_AMOUNT_LIMIT),
                name="%(app_label)s_%(class)s_amount_in_range",
                violation_error_message="The amount must be between 0 and 10¹².",
            ),
            models.CheckConstraint(
                condition=Q(realised_amount__isnull=True)
                | (Q(realised_amount__gte=0) & Q(realised_amount__lte=BENEFIT_AMOUNT_LIMIT)),
                name="%(app_label)s_%(class)s_realised_in_range",
                violation_error_message="The realised amount must be between 0 and 10¹².",
            ),
            models.CheckConstraint(
                condition=~Q(unit=""),
                name="%(app_label)s_%(class)s_unit_set",
                violation_error_message="A unit or currency is required.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.amount} {self.unit}"


class BenefitRealisation(models.Model):
    """What a benefit delivered, as recorded at a review or at or after closing: the
    realised figure to date (a later row replaces an earlier one, they do not add up)."""

    benefit = models.ForeignKey(Benefit, on_delete=models.CASCADE, related_name="realisations")
    amount = models.DecimalField(
        "realised amount",
        max_digits=15,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(BENEFIT_AMOUNT_LIMIT)],
    )
    step = models.CharField(
        max_length=16, choices=choices.Step, help_text="The initiative's step when recorded."
    )
    iteration = models.PositiveSmallIntegerField()
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["benefit", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(amount__lte=BENEFIT_AMOUNT_LIMIT),
                name="%(app_label)s_%(class)s_amount_in_range",
                violation_error_message="The amount must be between 0 and 10¹².",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} at {self.get_step_display()} ({self.recorded_at:%Y-%m-%d})"


# --- discussion (comments) ----------------------------------------------------------------


class Comment(TimeStamped):
    """A comment on an initiative: plain text (links and @mentions are rendered, nothing
    else). An edit or a delete keeps the earlier text in the history; a deleted comment
    stays in the thread as "deleted" (soft delete)."""

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    mentions = models.ManyToManyField(
        USER_MODEL, blank=True, related_name="mentioned_in", help_text="Who it @mentions."
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["initiative", "created_at", "id"]
        indexes = [
            models.Index(fields=["initiative", "created_at"], name="improvement_comment_thread")
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.initiative_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


# --- notifications ---


class Watcher(models.Model):
    """Someone who follows an initiative: told of its moves, KPI verdicts and comments.

    The Informed of an initiative are watchers too without a row here (see
    selectors.watcher_ids); a row is what a follow adds and an unfollow removes.
    """

    user = models.ForeignKey(USER_MODEL, on_delete=models.PROTECT, related_name="watching")
    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="watchers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["initiative", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "initiative"], name="%(app_label)s_%(class)s_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} watches {self.initiative}"


class Notification(models.Model):
    """One thing one person is told, in the app and perhaps by email.

    Made from an event (unique per event, recipient and kind, so a retried routing task
    creates nothing twice) or by a periodic job (unique per recipient, kind and `key`,
    e.g. one "due in 2 days" per action and due date).
    """

    recipient = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, related_name="notifications"
    )
    kind = models.CharField(max_length=24, choices=choices.NotificationKind)
    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    key = models.CharField(max_length=100, blank=True, help_text="What a periodic job told.")
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=500, blank=True, help_text="A path within CIR.")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(
        max_length=12, choices=choices.EmailState, default=choices.EmailState.NONE
    )
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "recipient", "kind"],
                condition=Q(event__isnull=False),
                name="%(app_label)s_%(class)s_once_per_event",
            ),
            models.UniqueConstraint(
                fields=["recipient", "kind", "key"],
                condition=~Q(key=""),
                name="%(app_label)s_%(class)s_once_per_key",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="improvement_notif_inbox"),
            # the unread count of the page header: one COUNT on this index
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="improvement_notif_unread",
            ),
            # the emails still to send (the catch-up and the digest read these)
            models.Index(
                fields=["email_state", "recipient"],
                condition=Q(email_state__in=["pending", "digest"]),
                name="improvement_notif_to_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient}"


class NotificationPreference(models.Model):
    """How one user wants one kind of notification; without a row, DEFAULT_DELIVERY."""

    user = models.ForeignKey(
        USER_MODEL, on_delete=models.PROTECT, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=24, choices=choices.NotificationKind)
    delivery = models.CharField(max_length=8, choices=choices.Delivery)

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="%(app_label)s_%(class)s_once")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind} → {self.delivery}"


# --- ITSM records and opportunities (SPEC §9) ---------------------------------------------


class ITSMRecord(models.Model):
    """One incident, problem or change read from an ITSM tool, as its latest version.

    (system, kind, number) is unique whatever the case of the number, so an import or a
    push of the same record updates it. `raw` keeps the source row as it came in;
    `source_updated_at` / `source_version` (ServiceNow's sys_updated_at / sys_mod_count)
    decide which of two versions is the later one.
    """

    system = models.CharField(max_length=64, help_text="The ITSM tool, e.g. servicenow.")
    kind = models.CharField(max_length=16, choices=choices.RecordKind)
    number = models.CharField(max_length=64)
    opened_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=64, blank=True)
    priority = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=200, blank=True)
    subcategory = models.CharField(max_length=200, blank=True)
    service = models.CharField("service / CI", max_length=200, blank=True)
    assignment_group = models.CharField(max_length=200, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    reassignment_count = models.PositiveIntegerField(default=0)
    sla_met = models.BooleanField("SLA met", null=True, blank=True)
    problem = models.CharField("linked problem", max_length=64, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    source_version = models.BigIntegerField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now=True)
    initiatives = models.ManyToManyField(Initiative, blank=True, related_name="itsm_records")

    class Meta:
        ordering = ["system", "kind", "number"]
        verbose_name = "ITSM record"
        constraints = [
            models.UniqueConstraint(
                F("system"),
                F("kind"),
                Lower("number"),
                name="%(app_label)s_%(class)s_unique_number",
                violation_error_message="This ITSM tool already has a record of this kind "
                "with this number.",
            ),
            models.CheckConstraint(
                condition=~Q(number=""), name="%(app_label)s_%(class)s_number_required"
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "opened_at"], name="improvement_itsm_opened_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.number}"


class KPIDerivation(models.Model):
    """What makes a KPI derived: its measurements are computed from the ITSM records of
    one group (dimension = value), a bucket (day or week) at a time, and none are taken
    by hand."""

    class Bucket(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"

    kpi = models.OneToOneField(KPI, on_delete=models.CASCADE, related_name="derivation")
    system = models.CharField(max_length=64, blank=True, help_text="Empty: every system.")
    kind = models.CharField(max_length=16, choices=choices.RecordKind)
    dimension = models.CharField(max_length=24, choices=choices.Dimension)
    group = models.CharField(max_length=200, blank=True, help_text="Empty: unknown.")
    metric = models.CharField(max_length=32, choices=choices.DerivedMetric)
    bucket = models.CharField(max_length=8, choices=Bucket, default=Bucket.WEEK)
    period_start = models.DateField(help_text="The baseline period's first day.")
    period_end = models.DateField(help_text="The day after the baseline period.")

    class Meta:
        ordering = ["kpi"]
        verbose_name = "KPI derivation"

    def __str__(self) -> str:
        return f"{self.kpi_id}: {self.metric} of {self.dimension}={self.group or '(unknown)'}"


class ITSMImport(models.Model):
    """One CSV import started from the browser: its file until it is read, its progress,
    and its answer (the figures and the rejected rows)."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(USER_MODEL, on_delete=models.PROTECT, related_name="+")
    system = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=choices.RecordKind)
    options = models.JSONField(default=dict, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    content = models.BinaryField(blank=True, editable=False)
    status = models.CharField(
        max_length=8, choices=choices.ImportStatus, default=choices.ImportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Per cent of the file read.")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "ITSM import"

    def __str__(self) -> str:
        return f"{self.file_name or 'import'} ({self.status})"
