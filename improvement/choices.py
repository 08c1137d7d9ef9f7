"""Choice sets of the register: steps, sources, KPI settings and statuses.

Each status carries a colour so that the UI, the admin and charts agree.
"""

from django.db import models


class Step(models.TextChoices):
    """The states of an initiative: intake, the seven ITIL steps, and the ends."""

    PROPOSED = "proposed", "Proposed"
    VISION = "vision", "1 · What is the vision?"
    BASELINE = "baseline", "2 · Where are we now?"
    TARGET = "target", "3 · Where do we want to be?"
    PLAN = "plan", "4 · How do we get there?"
    ACTION = "action", "5 · Take action"
    REVIEW = "review", "6 · Did we get there?"
    SUSTAIN = "sustain", "7 · Keep the momentum going"
    ON_HOLD = "on_hold", "On hold"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


#: the seven model steps in order (intake and ends excluded)
SEVEN_STEPS = (
    Step.VISION,
    Step.BASELINE,
    Step.TARGET,
    Step.PLAN,
    Step.ACTION,
    Step.REVIEW,
    Step.SUSTAIN,
)
#: states after which nothing moves any more
FINAL_STEPS = (Step.CLOSED, Step.REJECTED, Step.CANCELLED)
#: states of an initiative still open (not closed, rejected or cancelled)
OPEN_STEPS = tuple(s for s in Step if s not in FINAL_STEPS)
#: states an initiative may be put on hold from (and returns to when it resumes)
HOLDABLE_STEPS = (Step.PROPOSED, *SEVEN_STEPS)
#: states in which a KPI's definition (baseline, target, dates, direction, aggregation,
#: window) may still change: until the initiative leaves step 3
KPI_DEFINITION_OPEN_STEPS = (Step.PROPOSED, Step.VISION, Step.BASELINE, Step.TARGET)
#: states in which KPIs are checked (everything that is not final, plus closed for reverts)
LIVE_STEPS = tuple(s for s in Step if s not in (Step.REJECTED, Step.CANCELLED))
#: states after which an achieved KPI is watched for reverting
WATCHED_STEPS = (Step.SUSTAIN, Step.CLOSED)


class Source(models.TextChoices):
    INCIDENT = "incident", "Incident"
    PROBLEM = "problem", "Problem"
    CHANGE = "change", "Change"
    CUSTOMER_FEEDBACK = "customer_feedback", "Customer feedback"
    SURVEY = "survey", "Survey"
    AUDIT = "audit", "Audit"
    STAFF_SUGGESTION = "staff_suggestion", "Staff suggestion"
    MONITORING = "monitoring", "Monitoring"
    RISK = "risk", "Risk"
    OTHER = "other", "Other"


class Priority(models.TextChoices):
    P1 = "P1", "P1 · Critical"
    P2 = "P2", "P2 · High"
    P3 = "P3", "P3 · Moderate"
    P4 = "P4", "P4 · Low"


class Outcome(models.TextChoices):
    SUCCESSFUL = "successful", "Successful"
    PARTIALLY_SUCCESSFUL = "partially_successful", "Partially successful"
    UNSUCCESSFUL = "unsuccessful", "Unsuccessful"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ActionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


#: actions still to be done: the ones that can be overdue
OPEN_ACTION_STATUSES = (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)


class Decision(models.TextChoices):
    """A review's decision; it picks the next state (see workflow.DECISION_TARGETS)."""

    ACHIEVED = "achieved", "Achieved: sustain it"
    IMPROVED = "improved", "Improved enough: sustain it"
    ITERATE = "iterate", "Iterate: plan the next round"
    REVISIT_TARGET = "revisit_target", "Revisit the target"
    REVISIT_BASELINE = "revisit_baseline", "Revisit the baseline"
    STOP = "stop", "Stop: cancel the initiative"


class KPIKind(models.TextChoices):
    TECHNICAL = "technical", "Technical"
    PROCESS = "process", "Process"
    EXPERIENCE = "experience", "Experience"
    BUSINESS = "business", "Business"


class Direction(models.TextChoices):
    INCREASE = "increase", "Increase (higher is better)"
    DECREASE = "decrease", "Decrease (lower is better)"


class Aggregation(models.TextChoices):
    LATEST = "latest", "Latest measurement"
    MEAN = "mean", "Mean over window"
    MEDIAN = "median", "Median over window"
    SUM = "sum", "Sum over window"
    MIN = "min", "Minimum over window"
    MAX = "max", "Maximum over window"
    COUNT = "count", "Count over window"


class KPIStatus(models.TextChoices):
    """The verdict of a KPI check (SPEC §3), worst first in SEVERITY."""

    NO_BASELINE = "no_baseline", "No baseline"
    NO_TARGET = "no_target", "No target"
    NO_DATA = "no_data", "No data"
    ACHIEVED = "achieved", "Achieved"
    MISSED = "missed", "Missed"
    REGRESSED = "regressed", "Regressed"
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    REVERTED = "reverted", "Reverted"


#: An initiative's health: the worst current status of its KPIs, or `none` without KPIs.
Health = models.TextChoices(
    "Health",
    {"NONE": ("none", "No KPIs"), **{s.name: (s.value, s.label) for s in KPIStatus}},
)


#: worst first: an initiative's health is the first of these that any KPI has
SEVERITY = (
    KPIStatus.REVERTED,
    KPIStatus.REGRESSED,
    KPIStatus.MISSED,
    KPIStatus.AT_RISK,
    KPIStatus.NO_DATA,
    KPIStatus.NO_TARGET,
    KPIStatus.NO_BASELINE,
    KPIStatus.ON_TRACK,
    KPIStatus.ACHIEVED,
)

#: one colour per status, shared by the UI, the admin and the charts
STATUS_COLOURS = {
    "reverted": "#9f1239",
    "regressed": "#b91c1c",
    "missed": "#c2410c",
    "at_risk": "#b45309",
    "no_data": "#64748b",
    "no_target": "#64748b",
    "no_baseline": "#64748b",
    "on_track": "#15803d",
    "achieved": "#1d4ed8",
    "none": "#94a3b8",
}


class EventType(models.TextChoices):
    INITIATIVE_CREATED = "initiative.created", "initiative.created"
    INITIATIVE_TRANSITIONED = "initiative.transitioned", "initiative.transitioned"
    KPI_STATUS_CHANGED = "kpi.status_changed", "kpi.status_changed"
    KPI_REVERTED = "kpi.reverted", "kpi.reverted"
    ACTION_OVERDUE = "action.overdue", "action.overdue"
    COMMENT_CREATED = "comment.created", "comment.created"
    INITIATIVE_STALE = "initiative.stale", "initiative.stale"
    INITIATIVE_ASSIGNED = "initiative.assigned", "initiative.assigned"
    ACTION_ASSIGNED = "action.assigned", "action.assigned"


class Role(models.TextChoices):
    """The Django groups of SPEC §5, created by a data migration."""

    VIEWER = "Viewer", "Viewer"
    IMPROVEMENT_TEAM = "Improvement team", "Improvement team"
    SERVICE_OWNER = "Service owner", "Service owner"
    PROCESS_OWNER = "Process owner", "Process owner"
    CSI_MANAGER = "CSI manager", "CSI manager"
    ITSM_INTEGRATION = "ITSM integration", "ITSM integration"


# --- reports, PDCA and benefits ---


class PDCAPhase(models.TextChoices):
    """The Plan-Do-Check-Act cycle the seven steps map onto (SPEC §10)."""

    PLAN = "plan", "Plan"
    DO = "do", "Do"
    CHECK = "check", "Check"
    ACT = "act", "Act"
    #: intake, on hold, rejected and cancelled: outside the cycle
    NONE = "none", "Outside the cycle"


#: the steps of each phase: Plan = steps 1–4, Do = 5, Check = 6, Act = 7 and its close.
#: Closed counts as Act (the outcome is the act of standardising the change); proposed
#: (not started yet), on hold (paused), rejected and cancelled (abandoned) are outside
#: the cycle.
PDCA_STEPS = {
    PDCAPhase.PLAN: (Step.VISION, Step.BASELINE, Step.TARGET, Step.PLAN),
    PDCAPhase.DO: (Step.ACTION,),
    PDCAPhase.CHECK: (Step.REVIEW,),
    PDCAPhase.ACT: (Step.SUSTAIN, Step.CLOSED),
    PDCAPhase.NONE: (Step.PROPOSED, Step.ON_HOLD, Step.REJECTED, Step.CANCELLED),
}
#: the phase of each state (every Step maps to exactly one phase)
PDCA_PHASE_OF_STEP = {
    str(step): str(phase) for phase, steps in PDCA_STEPS.items() for step in steps
}
#: the four phases of the cycle in order (NONE excluded)
PDCA_CYCLE = (PDCAPhase.PLAN, PDCAPhase.DO, PDCAPhase.CHECK, PDCAPhase.ACT)


def pdca_phase(step: str) -> str:
    """The PDCA phase (a PDCAPhase value) of the state `step`."""
    return PDCA_PHASE_OF_STEP[str(step)]


class BenefitCategory(models.TextChoices):
    COST_REDUCTION = "cost_reduction", "Cost reduction"
    TIME_SAVED = "time_saved", "Time saved"
    CUSTOMER_SATISFACTION = "customer_satisfaction", "Customer satisfaction"
    QUALITY = "quality", "Quality"
    RISK = "risk", "Risk reduction"
    REVENUE = "revenue", "Revenue"


#: states in which a realised benefit may be recorded: at the review (step 6), while
#: sustaining (step 7) and at or after closing
REALISATION_STEPS = (Step.REVIEW, Step.SUSTAIN, Step.CLOSED)
#: states in which an initiative can go stale: open and not deliberately on hold
STALE_STEPS = tuple(s for s in OPEN_STEPS if s != Step.ON_HOLD)


# --- notifications ---


class NotificationKind(models.TextChoices):
    """What a notification tells; each kind has its own delivery preference."""

    ROLE_ASSIGNED = "role_assigned", "Assigned a role on an initiative"
    ACCEPTED = "accepted", "Initiative accepted"
    REJECTED = "rejected", "Initiative rejected"
    STEP_MOVED = "step_moved", "Initiative moved to another step"
    KPI_AT_RISK = "kpi_at_risk", "KPI at risk"
    KPI_REGRESSED = "kpi_regressed", "KPI regressed"
    KPI_MISSED = "kpi_missed", "KPI missed its target"
    KPI_REVERTED = "kpi_reverted", "KPI reverted"
    ACTION_ASSIGNED = "action_assigned", "Action assigned to you"
    ACTION_DUE_SOON = "action_due_soon", "Action due in 2 days"
    ACTION_OVERDUE = "action_overdue", "Action overdue"
    REVIEW_DUE = "review_due", "Review due"
    MENTION = "mention", "Mentioned in a comment"
    COMMENT = "comment", "Comment on an initiative you watch"
    TRIAGE_WAITING = "triage_waiting", "Proposal waiting for triage"
    STALE = "stale", "Initiative gone stale"


class Delivery(models.TextChoices):
    """How a user wants one kind of notification."""

    IN_APP = "in_app", "In the app only"
    EMAIL = "email", "In the app and by email at once"
    DIGEST = "digest", "In the app and in the daily digest email"
    OFF = "off", "Off"


#: the delivery of a kind the user has not chosen: email for what asks something of them
#: now, the digest for news, the app only for the chatter of a watched initiative
DEFAULT_DELIVERY = {
    NotificationKind.ROLE_ASSIGNED: Delivery.EMAIL,
    NotificationKind.ACCEPTED: Delivery.EMAIL,
    NotificationKind.REJECTED: Delivery.EMAIL,
    NotificationKind.STEP_MOVED: Delivery.DIGEST,
    NotificationKind.KPI_AT_RISK: Delivery.DIGEST,
    NotificationKind.KPI_REGRESSED: Delivery.EMAIL,
    NotificationKind.KPI_MISSED: Delivery.EMAIL,
    NotificationKind.KPI_REVERTED: Delivery.EMAIL,
    NotificationKind.ACTION_ASSIGNED: Delivery.EMAIL,
    NotificationKind.ACTION_DUE_SOON: Delivery.EMAIL,
    NotificationKind.ACTION_OVERDUE: Delivery.EMAIL,
    NotificationKind.REVIEW_DUE: Delivery.EMAIL,
    NotificationKind.MENTION: Delivery.EMAIL,
    NotificationKind.COMMENT: Delivery.IN_APP,
    NotificationKind.TRIAGE_WAITING: Delivery.EMAIL,
    NotificationKind.STALE: Delivery.EMAIL,
}


class EmailState(models.TextChoices):
    """Where a notification's email stands."""

    NONE = "none", "No email"
    PENDING = "pending", "To send"
    SENT = "sent", "Sent"
    DIGEST = "digest", "For the next digest"
    DIGESTED = "digested", "Sent in a digest"
    FAILED = "failed", "Not sent (no address)"


# --- ITSM records and opportunities ---


class RecordKind(models.TextChoices):
    """What an ITSM record is: an incident, a problem or a change (SPEC §9)."""

    INCIDENT = "incident", "Incident"
    PROBLEM = "problem", "Problem"
    CHANGE = "change", "Change"


class Dimension(models.TextChoices):
    """What opportunities group ITSM records by."""

    CATEGORY = "category", "Category"
    SUBCATEGORY = "subcategory", "Subcategory"
    SERVICE = "service", "Service / CI"
    ASSIGNMENT_GROUP = "assignment_group", "Assignment group"
    PRIORITY = "priority", "Priority"


class DerivedMetric(models.TextChoices):
    """What a derived KPI measures over the records of its group, bucket by bucket."""

    RECORDS_PER_WEEK = "records_per_week", "Records per week"
    RECORDS_PER_DAY = "records_per_day", "Records per day"
    MEDIAN_RESOLUTION_HOURS = "median_resolution_hours", "Median resolution hours"
    REOPEN_RATE = "reopen_rate", "Reopen rate"
    SLA_BREACH_RATE = "sla_breach_rate", "SLA breach rate"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
