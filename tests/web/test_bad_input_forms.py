"""The bad-input corpus against every form post of the browser UI: each bad value, in each
field of the form it could break, beside otherwise valid input, is refused (4xx) and
changes nothing in the database. The posts are found in the URL conf and their fields in
the form classes, so a new form is covered once it has a valid body below.

Also: the one cap on stored numbers reaches the pages and the admin (model validators),
and the chart draws extreme but allowed values.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django import forms
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.urls import URLPattern

from improvement import choices, services
from improvement.models import KPI, Measurement
from improvement.services import comments as comment_services
from improvement.web import benefits as web_benefits
from improvement.web import charts, forms_initiative, forms_people
from improvement.web import forms as web_forms
from improvement.web import notifications as web_notifications
from improvement.web import opportunities as web_opportunities
from improvement.web import spreadsheets as web_sheets
from improvement.web import urls as web_urls

from .. import factories
from .conftest import HTMX, page, url

pytestmark = pytest.mark.django_db

NUMBER = ["NaN", "1e309", "1" + "0" * 400, "1.7e308"]
INTEGER = ["NaN", "1" + "0" * 400]
DATE = ["2026-02-30", "10000-01-01"]
INSTANT = ["2026-02-01T09:00:00+16:00", "0001-01-01T00:00:00+14:00", "2099-01-01T00:00:00Z"]
CHOICE = ["no-such-choice", "a\x00b"]
REFERENCE = ["1e309", "9" * 30]
TEXT = ["a\x00b"]


def bad_values(field: forms.Field) -> list[str]:
    """The values that must be refused in `field`, by its type."""
    if isinstance(field, forms.BooleanField | forms.FileField):  # a file is never posted text
        return []
    if isinstance(field, forms.ModelChoiceField):
        return REFERENCE
    if isinstance(field, forms.ChoiceField):
        return CHOICE
    if isinstance(field, forms.FloatField):  # before IntegerField, its base class
        return NUMBER
    if isinstance(field, forms.IntegerField):
        return INTEGER
    if isinstance(field, forms.DateTimeField):
        return INSTANT
    if isinstance(field, forms.DateField):
        return DATE
    values = list(TEXT)
    if getattr(field, "max_length", None):
        values.append("x" * (field.max_length + 1))
    return values


def post_routes() -> dict[str, URLPattern]:
    """Every route of the browser UI whose view takes a POST, by name."""
    return {
        p.name: p
        for p in web_urls.urlpatterns
        if hasattr(p.callback, "view_class") and hasattr(p.callback.view_class, "post")
    }


#: routes a post changes nothing by input (a deletion: its confirmation is the post)
NO_INPUT = {
    "kpi-delete",
    "comment-delete",
    "benefit-delete",
    "initiative-watch",  # follow or unfollow: the button's own value, nothing typed
    "notification-read",
    "notifications-read",
    "notifications-unsubscribe",  # the signed token is in the path
    "itsm-import-new",  # a file upload: tests/web/test_opportunities.py posts bad files
}


class Site:
    """What the posts act on, and each route's form and a valid body."""

    def __init__(self, initiative_at, csi):
        self.initiative = initiative_at(choices.Step.TARGET)
        self.in_review = initiative_at(choices.Step.REVIEW)
        self.kpi = self.initiative.kpis.get()
        self.action = self.initiative.actions.get()
        self.goal = self.initiative.goals.get()
        self.csi = csi
        ref = self.initiative.reference
        self.duplicate = initiative_at(choices.Step.PLAN)
        self.comment = comment_services.comment_create(
            initiative=self.initiative, actor=csi, body="First"
        )
        reviewed = self.in_review.reference
        self.benefit = services.benefit_create(
            actor=csi, initiative=self.in_review, category="cost_reduction", amount="100",
            unit="EUR",
        )  # fmt: skip
        today = dt.date.today()
        measurement = Measurement.objects.create(
            kpi=self.kpi, value=7, measured_at=dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)
        )
        self.posts = {
            "propose": (
                url("propose"),
                web_forms.ProposeForm,
                {"title": "Faster restores", "description": "Slow", "source": "problem",
                 "value": 3, "urgency": 3, "effort": 2},
            ),
            "goals": (
                url("goals"), web_forms.GoalForm, {"title": "Resilience", "description": "Up"}
            ),
            "initiative-details": (
                url("initiative-details", ref),
                web_forms.InitiativeForm,
                {"title": "Fewer drops", "source": "problem", "value": 3, "urgency": 3,
                 "effort": 2, "accountable": self.initiative.accountable.pk},
            ),
            "action-create": (
                url("action-create", ref),
                forms_initiative.ActionForm,
                {"title": "Patch", "status": "planned", "due_date": str(today)},
            ),
            "action-update": (
                url("action-update", ref, self.action.pk),
                forms_initiative.ActionForm,
                {"title": "Patch", "status": "planned", "due_date": str(today)},
            ),
            "kpi-create": (
                url("kpi-create", ref),
                forms_initiative.KPIForm,
                {"name": "Drops", "key": "drops", "kind": "technical", "direction": "decrease",
                 "aggregation": "latest", "window_days": 30, "baseline_value": 10,
                 "baseline_date": "2026-01-01", "target_value": 5, "target_date": "2026-06-30",
                 "tolerance": 0.05},
            ),
            "kpi-update": (
                url("kpi-update", ref, self.kpi.pk),
                forms_initiative.KPIForm,
                {"name": "Drops", "kind": "technical", "direction": "decrease",
                 "aggregation": "latest", "window_days": 30, "baseline_value": 10,
                 "baseline_date": "2026-01-01", "target_value": 5, "target_date": "2026-06-30",
                 "tolerance": 0.05},
            ),
            "kpi-rebaseline": (
                url("kpi-rebaseline", ref, self.kpi.pk),
                forms_initiative.KPIRebaselineForm,
                {"reason": "Wrong baseline", "direction": "decrease", "aggregation": "latest",
                 "window_days": 30, "baseline_value": 10, "baseline_date": "2026-01-01",
                 "target_value": 5, "target_date": "2026-06-30"},
            ),
            "measurement-create": (
                url("measurement-create", ref, self.kpi.pk),
                forms_initiative.MeasurementForm,
                {"value": 7, "measured_at": "2026-02-01T09:00"},
            ),
            "review-create": (
                url("review-create", self.in_review.reference),
                forms_initiative.ReviewForm,
                {"progress_check": "Yes", "value_check": "Yes", "decision": "iterate"},
            ),
            **{
                f"record-update/{record}": (
                    url("record-update", ref, record),
                    form,
                    {"statement": "Stable VPN", "goals": self.goal.pk, "assessment": "Bad",
                     "objectives": "Halve drops", "approach": "Patch clients",
                     "embedding": "KB article", "lessons_learned": "Measure first"},
                )
                for record, form in forms_initiative.RECORD_FORMS.items()
            },
            "register-import": (
                url("register-import"),
                web_sheets.RegisterImportForm,
                {"content": "dGl0bGUKRmFzdGVyIHJlc3RvcmVzCg==",  # title / Faster restores
                 "filename": "register.csv", "mapping_name": "", "save_mapping_as": "",
                 "action": "preview"},
            ),
            "kpi-data": (
                url("kpi-data", ref, self.kpi.pk),
                web_sheets.PointsForm,
                {"text": "measured_at,value\n2026-02-01T10:00:00Z,5\n", "action": "preview"},
            ),
            "measurement-edit": (
                url("measurement-edit", ref, self.kpi.pk, measurement.pk),
                web_sheets.MeasurementForm,
                {"value": 7.5, "measured_at": "2026-02-01T09:00", "note": "", "reason": "typo",
                 "action": "correct"},
            ),
            "comment-create": (
                url("comment-create", ref), forms_people.CommentForm, {"body": "Agreed"}
            ),
            "comment-update": (
                url("comment-update", ref, self.comment.pk),
                forms_people.CommentForm,
                {"body": "Agreed, edited"},
            ),
            "close-duplicate": (
                url("close-duplicate", self.duplicate.reference),
                forms_people.CloseAsDuplicateForm,
                {"duplicate_of": self.in_review.reference, "reason": "Same"},
            ),
            "benefit-create": (
                url("benefit-create", reviewed),
                web_benefits.BenefitForm,
                {"category": "time_saved", "amount": "40", "unit": "hours", "kpi": "",
                 "description": "Less rework"},
            ),
            "benefit-update": (
                url("benefit-update", reviewed, self.benefit.pk),
                web_benefits.BenefitForm,
                {"category": "cost_reduction", "amount": "120", "unit": "EUR", "kpi": "",
                 "description": "Fewer licences"},
            ),
            "benefit-realise": (
                url("benefit-realise", reviewed, self.benefit.pk),
                web_benefits.RealiseForm,
                {"amount": "90", "note": "First quarter"},
            ),
            "notification-settings": (
                url("notification-settings"),
                web_notifications.PreferencesForm,
                {kind.value: "in_app" for kind in choices.NotificationKind},
            ),
            "promote": (
                url("promote"),
                web_opportunities.PromoteForm,
                {"dimension": "category", "group": "Network", "kind": "incident", "system": "",
                 "start": "2026-01-01", "end": "2026-03-31", "metric": "records_per_week"},
            ),
            # last: the valid move takes the initiative past step 3, where KPIs lock
            "initiative-move": (
                url("initiative-move", ref),
                forms_initiative.MoveForm,
                {"to": "plan"},
            ),
        }  # fmt: skip


@pytest.fixture
def site(initiative_at, csi) -> Site:
    return Site(initiative_at, csi)


def fingerprint() -> str:
    """A digest of every row of every table (sessions aside: signing in writes one)."""
    digest = hashlib.sha256()
    for model in apps.get_models(include_auto_created=True):
        if model is Session:
            continue
        for row in model._base_manager.order_by("pk").values_list():
            digest.update(repr(row).encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


def test_every_post_of_the_browser_ui_is_in_the_corpus(site: Site):
    names = set(post_routes()) - NO_INPUT
    covered = {name.split("/")[0] for name in site.posts}
    assert names == covered, "give each new form post a valid body in Site.posts"


def test_the_valid_bodies_are_valid(site: Site, client):
    # the corpus changes one field of these at a time: each must be accepted as it stands
    client.force_login(site.csi)
    for name, (path, _form, body) in site.posts.items():
        response = client.post(path, body)
        assert response.status_code in (200, 302), (name, response.status_code, _errors(response))


def _errors(response) -> str:
    """The form errors a refused post shows, for the failure message."""
    import re

    return "; ".join(
        re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode())[:5]
    )


#: fields a route's form leaves out (the key of an existing KPI cannot change)
NOT_IN_FORM = {("kpi-update", "key")}


def _corpus(site: Site):
    for name, (path, form, body) in site.posts.items():
        for field_name, field in form.base_fields.items():
            if (name, field_name) in NOT_IN_FORM:
                continue
            for value in bad_values(field):
                yield name, path, {**body, field_name: value}, f"{name}:{field_name}={value[:20]!r}"


def test_bad_values_in_every_form_field_are_refused_and_change_nothing(site: Site, client):
    client.force_login(site.csi)
    before = fingerprint()
    answers = {}
    for _name, path, body, case in _corpus(site):
        response = client.post(path, body, **HTMX)  # htmx: the part of the page, not all
        answers[case] = response.status_code
    accepted = {case: status for case, status in answers.items() if not 400 <= status < 500}
    assert not accepted
    assert len(answers) > 120, len(answers)
    assert fingerprint() == before


# --- one cap on stored numbers, whichever the door ------------------------------------------


@pytest.mark.parametrize("field", ["baseline_value", "target_value"])
@pytest.mark.parametrize("value", [1.7e308, -1.7e308, 1e301, float("nan"), float("inf")])
def test_the_model_refuses_a_kpi_value_beyond_the_cap(field, value):
    # the admin and the forms validate with the model: its validators are their cap
    kpi = factories.KPIFactory.build(initiative=factories.InitiativeFactory())
    setattr(kpi, field, value)
    with pytest.raises(ValidationError) as refused:
        kpi.full_clean()
    assert field in refused.value.error_dict


def test_the_model_accepts_the_apis_cap():
    kpi = factories.KPIFactory.build(
        initiative=factories.InitiativeFactory(), baseline_value=1e300, target_value=-1e300
    )
    kpi.full_clean()


def test_the_kpi_form_refuses_a_baseline_beyond_the_cap(site: Site, client):
    client.force_login(site.csi)
    path, _form, body = site.posts["kpi-update"]
    beyond = {**body, "baseline_value": "1.7e308", "target_value": "-1.7e308"}
    response = client.post(path, beyond, **HTMX)
    assert response.status_code == 422
    refusal = "A finite number of magnitude at most 1e+300 is required."
    assert refusal in response.content.decode()
    # without JavaScript the refusal is a redirect to the page, which shows it once
    response = client.post(path, beyond)
    assert response.status_code == 302
    assert refusal in client.get(response["Location"]).content.decode()
    site.kpi.refresh_from_db()
    assert site.kpi.baseline_value != 1.7e308


@pytest.mark.parametrize(
    "baseline,target",
    [(1e300, -1e300), (1.0, 1.0000000000000002), (4e-323, 5e-323), (0.0, 5e-324),
     (1.7e308, -1.7e308)],
    ids=["the cap", "one float apart", "subnormal", "zero and the least float",
         "stored before the cap"],
)  # fmt: skip
def test_the_initiative_page_draws_extreme_values(site: Site, client, baseline, target):
    # stored directly: values an earlier version let in are drawn too
    direction = "decrease" if target < baseline else "increase"
    KPI.objects.filter(pk=site.kpi.pk).update(
        baseline_value=baseline, target_value=target, direction=direction
    )
    Measurement.objects.create(
        kpi=site.kpi,
        value=min(abs(baseline), 1e300),
        measured_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    site.kpi.refresh_from_db()
    chart = charts.kpi_chart(site.kpi, site.kpi.measurements.all())
    assert "<svg" in chart.svg
    client.force_login(site.csi)
    assert client.get(page(site.initiative)).status_code == 200
