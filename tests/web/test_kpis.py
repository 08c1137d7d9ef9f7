"""The KPI cards' goalposts: locked once the initiative has left step 3 (a change is refused
with the way on, and nothing changes), re-baselined by a CSI manager with a reason, and
every definition change listed beside the chart as a revision. The edit and re-baseline
forms come with the card only when it shows them open; else the card asks for them when
they are opened (a GET of their URL), or without JavaScript opens the page with them."""

import re

import pytest

from improvement import services
from improvement.choices import Step
from improvement.models import KPI, KPIRevision

from .. import factories
from .conftest import HTMX, after_redirect, page, text, url

pytestmark = pytest.mark.django_db


def edit_form(client, kpi, form: str = "kpi-update") -> str:
    """The KPI's edit form (or, with "kpi-rebaseline", its re-baseline form) as the card
    gets it when it is opened."""
    response = client.get(url(form, kpi.initiative.reference, kpi.pk), **HTMX)
    assert response.status_code == 200, response.status_code
    return text(response)


def kpi_data(kpi, **changes) -> dict:
    """The KPI's edit form as a browser posts it while the goalposts are open."""
    data = {
        "name": kpi.name, "unit": kpi.unit, "kind": kpi.kind, "direction": kpi.direction,
        "aggregation": kpi.aggregation, "window_days": kpi.window_days,
        "baseline_value": kpi.baseline_value, "baseline_date": kpi.baseline_date.isoformat(),
        "target_value": kpi.target_value, "target_date": kpi.target_date.isoformat(),
        "tolerance": kpi.tolerance, "csf": kpi.csf,
    }  # fmt: skip
    return data | changes


@pytest.fixture
def planned(initiative_at, team_member):
    """An initiative in step 4 with one KPI defined through the service (so it has its
    first revision), and that KPI."""
    initiative = initiative_at(Step.TARGET, complete=True)
    initiative.kpis.all().delete()
    kpi = services.kpi_create(
        initiative=initiative, actor=team_member, key="mttr", name="MTTR", unit="h",
        direction="decrease", baseline_value=10, baseline_date="2026-01-01", target_value=8,
        target_date="2026-07-01",
    )  # fmt: skip
    services.initiative_transition(initiative=initiative, to=Step.PLAN, actor=team_member)
    return initiative, KPI.objects.get(pk=kpi.pk)


def test_after_step_3_the_goalposts_show_locked_with_the_way_on(client_for, team_member, planned):
    initiative, kpi = planned
    client = client_for(team_member)
    html = text(client.get(page(initiative)))
    assert "Re-baseline…" not in html.split(f'id="kpi-{kpi.pk}"')[1]  # a CSI manager's form
    card = edit_form(client, kpi)
    for name in ("baseline_value", "baseline_date", "target_value", "target_date", "direction",
                 "aggregation", "window_days", "target_change_pct"):  # fmt: skip
        field = re.search(rf'<[^>]*id="id_kpi{kpi.pk}_{name}"[^>]*>', card).group(0)
        assert "disabled" in field, name
        assert f"id_kpi{kpi.pk}_{name}_helptext" in field  # "Locked since …" describes it
    assert "disabled" not in re.search(rf'<[^>]*id="id_kpi{kpi.pk}_name"[^>]*>', card).group(0)
    notice = card.split(f'id="kpi-{kpi.pk}-locked"')[1].split("</div>")[0]
    assert "move it back to '3 · Where do we want to be?'" in notice
    assert "ask a CSI manager to re-baseline the KPI with a reason" in notice


def test_a_locked_change_is_refused_on_the_form_and_changes_nothing(
    client_for, team_member, planned
):
    initiative, kpi = planned
    response = client_for(team_member).post(
        url("kpi-update", initiative.reference, kpi.pk),
        kpi_data(kpi, name="MTTR (renamed)", target_value=6),
        **HTMX,
    )
    assert response.status_code == 409
    html = text(response)
    card = html.split(f'id="kpi-{kpi.pk}"')[1].split("</article>")[0]
    assert "The baseline and target of KPI '" in card
    assert "are locked since the initiative left step 3" in card
    assert "'3 · Where do we want to be?'" in card and "re-baseline the KPI with a reason" in card
    error = card.split(f'id="id_kpi{kpi.pk}_target_value_error"')[1].split("</ul>")[0]
    assert "Locked since the initiative left step 3" in error
    # the stored target is shown, not the refused one, described by its error; nothing saved
    field = re.search(rf'<input[^>]*id="id_kpi{kpi.pk}_target_value"[^>]*>', card).group(0)
    assert 'value="8"' in field and "disabled" in field
    assert f"id_kpi{kpi.pk}_target_value_error" in field
    fresh = KPI.objects.get(pk=kpi.pk)
    assert (fresh.name, fresh.target_value) == ("MTTR", 8.0)
    assert kpi.revisions.count() == 1


def test_the_browsers_post_of_a_locked_form_saves_the_rest(client_for, team_member, planned):
    # a browser does not send disabled inputs: the goalposts are missing from the post
    initiative, kpi = planned
    data = kpi_data(kpi, name="Mean time to restore")
    for name in ("baseline_value", "baseline_date", "target_value", "target_date", "direction",
                 "aggregation", "window_days"):  # fmt: skip
        data.pop(name)
    response = client_for(team_member).post(url("kpi-update", initiative.reference, kpi.pk), data)
    assert response.status_code == 302
    kpi.refresh_from_db()
    assert (kpi.name, kpi.target_value) == ("Mean time to restore", 8.0)
    assert kpi.revisions.last().changes == {"name": ["MTTR", "Mean time to restore"]}


def test_a_csi_manager_rebaselines_with_a_reason(client_for, csi, planned):
    initiative, kpi = planned
    client = client_for(csi)
    html = text(client.get(page(initiative)))
    card = html.split(f'id="kpi-{kpi.pk}"')[1].split("</article>")[0]
    assert "Re-baseline…" in card
    assert "As a CSI manager, you can re-baseline it below." in edit_form(client, kpi)
    assert f'id="id_rb{kpi.pk}_reason"' in edit_form(client, kpi, "kpi-rebaseline")
    data = kpi_data(kpi, target_value=7, reason="")
    data.pop("name")
    # without a reason: refused on the reason field, nothing changes
    response = client.post(url("kpi-rebaseline", initiative.reference, kpi.pk), data, **HTMX)
    assert response.status_code == 422
    assert f'id="id_rb{kpi.pk}_reason_error"' in text(response)
    assert "Say why the KPI changes." in text(response)
    assert KPI.objects.get(pk=kpi.pk).target_value == 8
    # with one: changed, and the revision says who, why, old → new
    why = "The service desk merged two queues."
    response = client.post(
        url("kpi-rebaseline", initiative.reference, kpi.pk), data | {"reason": why}, **HTMX
    )
    assert response.status_code == 200
    assert KPI.objects.get(pk=kpi.pk).target_value == 7
    revision = kpi.revisions.last()
    assert (revision.kind, revision.by, revision.reason) == (KPIRevision.Kind.REBASELINED, csi, why)
    history = text(response).split(f'id="kpi-{kpi.pk}-revisions"')[1].split("</details>")[0]
    assert "2 revisions" in history and "last re-baselined" in history
    assert '<span class="tag tag--rev-rebaselined">Re-baselined</span>' in history
    assert f"Why: {why}" in history
    assert "Target value</span>: <del>8 h</del>" in history and "<ins>7 h</ins>" in history
    assert '<span class="tag tag--rev-defined">Defined</span>' in history


def test_only_a_csi_manager_rebaselines(client_for, team_member, planned):
    initiative, kpi = planned
    data = kpi_data(kpi, target_value=7, reason="Because")
    response = client_for(team_member).post(
        url("kpi-rebaseline", initiative.reference, kpi.pk), data
    )
    assert response.status_code == 403
    assert "Only a CSI manager may re-baseline a KPI after step 3." in text(response)
    assert KPI.objects.get(pk=kpi.pk).target_value == 8


def test_before_step_4_the_goalposts_are_open_and_changes_are_revisions(
    client_for, team_member, initiative_at
):
    initiative = initiative_at(Step.TARGET, complete=True)
    kpi = initiative.kpis.get()
    client = client_for(team_member)
    card = edit_form(client, kpi)
    field = re.search(rf'<input[^>]*id="id_kpi{kpi.pk}_target_value"[^>]*>', card).group(0)
    assert "disabled" not in field and "-locked" not in card
    response = client.post(
        url("kpi-update", initiative.reference, kpi.pk), kpi_data(kpi, target_value=7)
    )
    assert response.status_code == 302
    history = text(client.get(page(initiative))).split(f'id="kpi-{kpi.pk}-revisions"')[1]
    assert '<span class="tag tag--rev-changed">Changed</span>' in history
    assert "<del>8 h</del>" in history and "<ins>7 h</ins>" in history


# --- the forms on demand ----------------------------------------------------------------


def test_the_page_carries_no_kpi_form_until_it_is_opened(client_for, csi, planned):
    initiative, kpi = planned
    html = text(client_for(csi).get(page(initiative)))
    card = html.split(f'id="kpi-{kpi.pk}"')[1].split("</article>")[0]
    # the summaries are there, each with the way to its form, and no field of either form
    assert "Edit settings" in card and "Re-baseline…" in card
    assert f'id="id_kpi{kpi.pk}_' not in card and f'id="id_rb{kpi.pk}_' not in card
    assert f"kpis/{kpi.pk}/delete/" not in card
    for form in ("kpi-update", "kpi-rebaseline"):
        target = url(form, initiative.reference, kpi.pk)
        assert (
            f'hx-get="{target}" hx-trigger="toggle once from:closest details" '
            f'hx-swap="outerHTML"><a href="{target}">'
        ) in card


def test_the_edit_form_on_its_own_posts_as_on_the_page(
    client_for, team_member, planned, django_assert_num_queries
):
    initiative, kpi = planned
    client = client_for(team_member)
    # the session, the user, their roles, the initiative and the KPI: none of the page's
    with django_assert_num_queries(5):
        response = client.get(url("kpi-update", initiative.reference, kpi.pk), **HTMX)
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] and "HX-Request" in response["Vary"]
    html = text(response)
    target = url("kpi-update", initiative.reference, kpi.pk)
    assert f'action="{target}"' in html and f'hx-post="{target}" hx-target="#kpis"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'value="MTTR"' in re.search(rf'<input[^>]*id="id_kpi{kpi.pk}_name"[^>]*>', html).group(0)
    assert f'id="kpi-{kpi.pk}-locked"' in html and "Save KPI" in html
    assert f'hx-post="{url("kpi-delete", initiative.reference, kpi.pk)}"' in html
    assert "As a CSI manager" not in html


def test_without_javascript_the_forms_link_opens_the_page_with_it(client_for, csi, planned):
    initiative, kpi = planned
    client = client_for(csi)
    for form, name, field in (("kpi-update", "edit", "id_kpi"),
                              ("kpi-rebaseline", "rebaseline", "id_rb")):  # fmt: skip
        response = client.get(url(form, initiative.reference, kpi.pk))
        assert response.status_code == 302
        assert response["Location"] == (
            f"{page(initiative)}?kpi_{name}={kpi.pk}#kpi-{kpi.pk}-{name}"
        )
        html = text(client.get(response["Location"]))
        assert re.search(rf'<details [^>]*id="kpi-{kpi.pk}-{name}" open>', html)
        assert f'id="{field}{kpi.pk}_target_value"' in html
    # a number that is no KPI of the page opens nothing
    html = text(client.get(page(initiative) + "?kpi_edit=99999&kpi_rebaseline=x"))
    assert f'id="id_kpi{kpi.pk}_' not in html and f'id="id_rb{kpi.pk}_' not in html


@pytest.mark.parametrize("form", ["kpi-update", "kpi-rebaseline"])
@pytest.mark.parametrize("htmx", [True, False])
def test_the_forms_are_only_for_those_who_may_post_them(client, viewer, team_member, planned,
                                                        form, htmx):  # fmt: skip
    initiative, kpi = planned
    target = url(form, initiative.reference, kpi.pk)
    headers = HTMX if htmx else {}
    assert client.get(target, **headers).status_code == 302  # anonymous: sign in first
    client.force_login(viewer)
    assert client.get(target, **headers).status_code == 403
    client.force_login(team_member)  # an editor, who may not re-baseline
    response = client.get(target, **headers)
    if form == "kpi-rebaseline":
        assert response.status_code == 403
        assert "Only a CSI manager may re-baseline a KPI after step 3." in text(response)
    else:
        assert response.status_code == (200 if htmx else 302)


@pytest.mark.parametrize("form", ["kpi-update", "kpi-rebaseline"])
def test_a_form_of_another_initiatives_kpi_is_404(client_for, csi, planned, initiative_at, form):
    initiative, kpi = planned
    other = initiative_at(Step.ACTION).kpis.get()
    client = client_for(csi)
    assert client.get(url(form, initiative.reference, other.pk), **HTMX).status_code == 404
    assert client.get(url(form, initiative.reference, 99999), **HTMX).status_code == 404
    assert client.get(url(form, "CIR-99999", kpi.pk), **HTMX).status_code == 404
    assert client.get(f"{page(initiative)}kpis/x/", **HTMX).status_code == 404


def test_a_refused_edit_shows_its_form_open_with_the_errors(client_for, team_member,
                                                            initiative_at):  # fmt: skip
    initiative = initiative_at(Step.TARGET, complete=True)
    kpi = initiative.kpis.get()
    other = factories.KPIFactory(initiative=initiative)
    client = client_for(team_member)
    data = kpi_data(kpi, name="", target_value=7)
    target = url("kpi-update", initiative.reference, kpi.pk)
    # with htmx: the KPIs again, this card's form open with what was typed and the errors
    response = client.post(target, data, **HTMX)
    assert response.status_code == 422
    for html in (text(response), text(after_redirect(client, client.post(target, data)))):
        # and without: the same, on the page the redirect leads to
        assert re.search(rf'<details [^>]*id="kpi-{kpi.pk}-edit" open>', html)
        assert f'id="id_kpi{kpi.pk}_name_error"' in html
        field = re.search(rf'<input[^>]*id="id_kpi{kpi.pk}_target_value"[^>]*>', html).group(0)
        assert 'value="7"' in field
        # the other card keeps its form for later
        assert f'id="id_kpi{other.pk}_' not in html
        assert f'hx-get="{url("kpi-update", initiative.reference, other.pk)}"' in html
    assert KPI.objects.get(pk=kpi.pk).target_value == 8


def test_a_refused_rebaseline_shows_its_form_open_with_the_errors(client_for, csi, planned):
    initiative, kpi = planned
    data = kpi_data(kpi, target_value=7, reason="")
    response = client_for(csi).post(
        url("kpi-rebaseline", initiative.reference, kpi.pk), data, **HTMX
    )
    assert response.status_code == 422
    html = text(response)
    assert re.search(rf'<details [^>]*id="kpi-{kpi.pk}-rebaseline" open>', html)
    assert f'id="id_rb{kpi.pk}_reason_error"' in html
    assert f'id="id_kpi{kpi.pk}_' not in html  # the edit form waits to be opened
