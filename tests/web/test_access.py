"""Who may open which browser page: sign-in for anonymous users, 403 without a browser
role, 404 for an unknown initiative; signing in and out."""

import pytest
from django.urls import reverse

from improvement.choices import Step

from .conftest import page, text, url

pytestmark = pytest.mark.django_db


# --- who may open which page -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["register", "propose", "portfolio", "goals", "register-export"])
def test_anonymous_is_sent_to_sign_in(client, name):
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_initiative_page_is_sent_to_sign_in(client, proposed):
    response = client.get(page(proposed))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize(
    ("role", "name", "status"),
    [
        ("viewer", "register", 200),
        ("team", "register", 200),
        ("service_owner", "register", 200),
        ("csi", "register", 200),
        ("viewer", "goals", 200),
        ("team", "goals", 200),
        ("csi", "goals", 200),
        ("viewer", "register-export", 200),
        ("viewer", "propose", 403),
        ("team", "propose", 200),
        ("process_owner", "propose", 200),
        ("csi", "propose", 200),
        ("viewer", "portfolio", 200),
        ("team", "portfolio", 200),
        ("csi", "portfolio", 200),
        ("integration", "register", 403),
        (None, "register", 403),
        (None, "goals", 403),
    ],
)
def test_pages_answer_by_role(make_user, client_for, role, name, status):
    response = client_for(make_user(role)).get(url(name))
    assert response.status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    [("viewer", 200), ("team", 200), ("csi", 200), ("integration", 403), (None, 403)],
)
def test_initiative_page_by_role(make_user, client_for, proposed, role, status):
    assert client_for(make_user(role)).get(page(proposed)).status_code == status


def test_unknown_initiative_is_404(client_for, viewer):
    assert client_for(viewer).get(url("initiative", "CIR-99999")).status_code == 404


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'id="id_username"' in response.content
    assert b"<label" in response.content


def test_sign_in_lands_on_my_work(client, team_member):
    response = client.post(reverse("login"), {"username": "tina", "password": "pass-1234"})
    assert response.status_code == 302
    assert response["Location"] == url("my-work")


def test_sign_out_is_a_post(client_for, team_member):
    client = client_for(team_member)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(url("register")).status_code == 302


def test_pages_load_htmx_from_the_installed_package_not_a_cdn(client_for, viewer):
    html = client_for(viewer).get(url("register")).content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in html
    assert "https://" not in html.split("<body")[0]


# --- every 403 names the role or RACI position needed ----------------------------------------

EDITORS = "its accountable owner (A) or a responsible person (R) in the Improvement team"


def forbidden_reason(response) -> str:
    assert response.status_code == 403
    return text(response).split('id="forbidden-reason"')[1].split("</p>")[0]


@pytest.mark.parametrize(
    ("role", "name", "words"),
    [
        ("integration", "register", "an ITSM integration account uses the API only"),
        (None, "goals", "Only users with a CIR role — Viewer, Improvement team"),
        ("viewer", "propose", "Only the Improvement team, Service owners, Process owners"),
    ],
)
def test_a_page_refused_names_the_role_it_needs(make_user, client_for, role, name, words):
    assert words in forbidden_reason(client_for(make_user(role)).get(url(name)))


@pytest.mark.parametrize(
    ("who", "write", "words"),
    [
        ("viewer", "record", EDITORS),
        ("other_team", "details", EDITORS),
        ("viewer", "review", EDITORS),
        ("viewer", "measurement", "an ITSM integration or a CSI manager may record measurements"),
        ("team", "goal", "Only a CSI manager"),
    ],
)
def test_a_write_refused_names_the_role_or_raci_position_it_needs(
    make_user, client_for, team_member, initiative_at, who, write, words
):
    initiative = initiative_at(Step.REVIEW)
    user = team_member if who == "team" else make_user("team" if who == "other_team" else who)
    kpi = initiative.kpis.get()
    target = {
        "record": (url("record-update", initiative.reference, "plan"), {"approach": "x"}),
        "details": (url("initiative-details", initiative.reference), {"title": "Mine"}),
        "review": (url("review-create", initiative.reference), {"decision": "iterate"}),
        "measurement": (
            url("measurement-create", initiative.reference, kpi.pk),
            {"value": "1", "measured_at": "2026-01-05T10:00"},
        ),
        "goal": (url("goals"), {"title": "Mine"}),
    }[write]
    assert words in forbidden_reason(client_for(user).post(*target))
