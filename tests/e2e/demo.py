"""A small, realistic register for the screenshots, written through the services."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from improvement import services
from improvement.choices import Role
from improvement.models import Initiative, Practice, Service

User = get_user_model()


def person(username, first, last, role, **extra):
    user, _ = User.objects.get_or_create(
        username=username, defaults={"first_name": first, "last_name": last, **extra}
    )
    user.set_password("pass-1234")
    user.save()
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


# title, source, service, practice, value, effort, urgency, step, goal, owner, KPI
# KPI: name, unit, direction, baseline, target, measurements (oldest first)
INITIATIVES = [
    ("Cut the time to restore the payroll service", "problem", "Payroll", "Incident management",
     5, 2, 5, "action", 0, "tina",
     ("Mean time to restore payroll", "h", "decrease", 9.0, 6.0,
      [9.2, 8.8, 8.1, 7.9, 7.4, 7.6, 7.1])),
    ("Self-service password reset", "customer_feedback", "Service desk",
     "Service request management", 4, 2, 3, "review", 1, "raj",
     ("Password tickets per week", "tickets", "decrease", 420, 150,
      [410, 380, 300, 240, 190, 160])),
    ("Reduce failed changes on the customer portal", "audit", "Customer portal",
     "Change enablement", 4, 4, 3, "plan", 3, "tina",
     ("Change failure rate", "%", "decrease", 18, 8, [18, 19, 21, 22])),
    ("First-contact resolution at the service desk", "survey", "Service desk",
     "Incident management", 4, 3, 3, "sustain", 1, "raj",
     ("First-contact resolution", "%", "increase", 58, 75, [58, 62, 67, 71, 76, 78])),
    ("Automate mailbox provisioning", "staff_suggestion", "E-mail", "Service request management",
     3, 2, 2, "target", 2, "tina", None),
    ("Major incident communication template", "incident", "Customer portal",
     "Incident management", 3, 1, 4, "baseline", 0, "raj", None),
    ("Monitor certificate expiry", "monitoring", "E-mail", "Problem management", 4, 1, 5,
     "vision", 0, "tina", None),
    ("Chatbot for order status", "customer_feedback", "Customer portal", None, 2, 5, 2, None,
     None, None, None),
    ("Shorter CAB meetings", "staff_suggestion", None, "Change enablement", 2, 2, 2, None, None,
     None, None),
    ("Known-error database clean-up", "problem", "Service desk", "Problem management", 3, 3, 2,
     "closed", 2, "raj",
     ("Known errors older than a year", "", "decrease", 340, 100, [340, 250, 180, 95])),
    ("Payroll batch window overrun", "incident", "Payroll", "Problem management", 4, 3, 4,
     "action", 0, "raj", ("Batch overruns per month", "", "decrease", 6, 1, [6, 7, 7, 8])),
]  # fmt: skip
FORWARD = ["baseline", "target", "plan", "action", "review", "sustain"]


def build() -> dict:
    """Create users, goals, services and the initiatives above; returns the users by name."""
    csi = person("csi", "Carla", "Santos", Role.CSI_MANAGER, is_staff=True)
    users = {
        "csi": csi,
        "tina": person("tina", "Tina", "Okafor", Role.IMPROVEMENT_TEAM),
        "raj": person("raj", "Raj", "Patel", Role.IMPROVEMENT_TEAM),
        "victor": person("victor", "Victor", "Lund", Role.VIEWER),
    }
    services_ = {n: Service.objects.get_or_create(name=n)[0]
                 for n in ("Payroll", "Service desk", "E-mail", "Customer portal")}  # fmt: skip
    practices = {n: Practice.objects.get_or_create(name=n)[0]
                 for n in ("Incident management", "Change enablement", "Problem management",
                           "Service request management")}  # fmt: skip
    goals = [
        services.goal_create(
            actor=csi, title=t, description=d, owner=csi, horizon=dt.date(2027, 12, 31)
        )  # fmt: skip
        for t, d in (
            ("Restore service faster", "Cut the business impact of outages."),
            ("Delight customers", "Raise satisfaction with every contact."),
            ("Lower the cost of IT", "Do more with the same budget."),
            ("Change safely", "Fewer failed changes, fewer emergency changes."),
        )
    ]
    today = timezone.localdate()
    now = timezone.now()
    for n, row in enumerate(INITIATIVES):
        title, source, service, practice, value, effort, urgency, upto, goal, owner, kpi = row
        initiative = services.initiative_create(
            actor=users["tina" if n % 2 == 0 else "raj"], title=title, source=source,
            description=f"{title}. Raised after repeated complaints and a review of last "
            "quarter's figures.",
            service=services_.get(service), practice=practices.get(practice), value=value,
            effort=effort, urgency=urgency,
            due_date=today + dt.timedelta(days=(n * 37) % 150 - 15) if upto else None,
        )  # fmt: skip
        if upto is None:
            continue
        owner = users[owner]
        services.initiative_update(
            initiative=initiative, actor=csi, accountable=owner, responsible=[owner]
        )
        initiative = services.initiative_transition(
            initiative=Initiative.objects.get(pk=initiative.pk), to="vision", actor=csi,
            comment="Accepted at the weekly CSI board.",
        )  # fmt: skip
        records = {
            "vision": {"statement": f"{title}: the business notices the difference.",
                       "expected_value": "Fewer lost hours and happier users.",
                       "stakeholders": "Service owner, service desk, HR",
                       "goals": [goals[goal]]},
            "baseline": {"assessment": "Measured over the last quarter from the ITSM tool.",
                         "method": "ITSM reports", "assessed_on": today - dt.timedelta(days=100)},
            "target": {"objectives": "Reach the target value by the target date.",
                       "csfs": "Team capacity; management support"},
            "plan": {"approach": "Swarming, automation and a runbook.",
                     "hypotheses": "If we swarm P1s, restore time falls by a third.",
                     "risks": "Key people on leave over summer."},
            "sustain": {"embedding": "Knowledge article KB0012; training for all agents.",
                        "lessons_learned": "Start measuring early."},
        }  # fmt: skip
        for record, data in records.items():
            services.step_record_update(initiative=initiative, record=record, actor=owner, **data)
        if kpi:
            name, unit, direction, base, target, values = kpi
            k = services.kpi_create(
                initiative=initiative, actor=owner, key=f"demo-{initiative.reference.lower()}",
                name=name, unit=unit, direction=direction, baseline_value=base,
                baseline_date=today - dt.timedelta(days=120), target_value=target,
                target_date=today + dt.timedelta(days=90),
            )  # fmt: skip
            step = 115 // max(1, len(values) - 1)
            services.measurement_record(kpi=k, actor=csi, points=[
                {"value": v, "measured_at": now - dt.timedelta(days=120 - j * step),
                 "source": "servicenow"} for j, v in enumerate(values)
            ])  # fmt: skip
        for title_, due, status in (
            ("Agree the swarming rota", -30, "done"),
            ("Write the runbook", -12, "in_progress"),
            ("Train the second-line team", 20, "planned"),
        ):
            services.action_create(
                initiative=initiative, actor=owner, title=title_, owner=owner,
                due_date=today + dt.timedelta(days=due), status=status,
            )  # fmt: skip
        for to in FORWARD + ["closed"]:
            initiative = Initiative.objects.get(pk=initiative.pk)
            if initiative.step == upto:
                break
            if to == "sustain":
                services.review_create(initiative=initiative, actor=owner, decision="improved",
                                       progress_check="Objectives mostly met.",
                                       value_check="Still relevant.")  # fmt: skip
            actor = csi if to == "closed" else owner
            extra = {"outcome": "successful"} if to == "closed" else {}
            services.initiative_transition(initiative=initiative, to=to, actor=actor, **extra)
    return users
