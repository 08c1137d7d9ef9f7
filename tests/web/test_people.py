"""The people pickers of the initiative page: who each offers, how a typed person is read
back, and who the server refuses even when posted by hand."""

import re

import pytest

from improvement import permissions, selectors
from improvement.choices import Step
from improvement.models import Action
from improvement.web.forms import InitiativeForm
from improvement.web.forms_initiative import ActionForm

from ..conftest import ROLE_NAMES, initiative_state
from .conftest import HTMX, page, text, url

#: the roles whose holders may own, be accountable or responsible (may_be_accountable)
OWNER_ROLES = ["team", "service_owner", "process_owner", "csi"]


@pytest.fixture
def everyone(make_user):
    """One active user per role, a superuser without a role, and people who may hold none:
    someone inactive, someone without a role, an integration account."""
    people = {role: make_user(role, username=f"p-{role}") for role in ROLE_NAMES}
    people["superuser"] = make_user(None, username="p-root", is_superuser=True)
    people["inactive"] = make_user("team", username="p-gone", is_active=False)
    people["norole"] = make_user(None, username="p-nobody")
    return people


def test_the_pickers_people_are_those_permissions_allow(everyone):
    # the selector's SQL and the permissions' Python rules agree for every kind of user
    offered = {u.pk: u for u in selectors.people_for_pickers()}
    for user in everyone.values():
        assert (user.pk in offered) == permissions.may_use_browser(user), user
        if user.pk in offered:
            assert offered[user.pk].may_be_accountable == permissions.may_be_accountable(user)


def _offered(html: str, list_id: str) -> set[str]:
    """The usernames a picker offers: a datalist's options or a checklist's boxes."""
    block = re.search(rf'id="{list_id}".*?</(datalist|ul)>', html, re.S).group(0)
    return set(re.findall(r"\((p-[a-z_]+)\)", block))


OWNERS = {f"p-{r}" for r in OWNER_ROLES} | {"p-root"}
READERS = OWNERS | {"p-viewer"}


@pytest.mark.parametrize(
    ("list_id", "expected"),
    [
        ("id_details_accountable_people", OWNERS),
        ("id_details_responsible_list", OWNERS),
        ("id_details_consulted_list", READERS),
        ("id_details_informed_list", READERS),
        ("id_newaction_owner_people", OWNERS),
    ],
)
def test_each_picker_offers_only_who_may_hold_its_role(
    client_for, everyone, initiative_at, list_id, expected
):
    initiative = initiative_at(Step.PLAN)
    html = client_for(everyone["csi"]).get(page(initiative)).content.decode()
    # the initiative's own owner (tina, of the team) is offered too: leave them out
    assert _offered(html, list_id) == expected


def _details(initiative, **people) -> dict:
    data = {
        "title": initiative.title, "source": initiative.source, "value": 3, "urgency": 3,
        "effort": 3, "accountable": initiative.accountable.username,
        "responsible": [initiative.accountable.pk],
    }  # fmt: skip
    return data | people


REFUSED = ["viewer", "integration", "inactive", "norole"]


@pytest.mark.parametrize("person", REFUSED + ["nobody-at-all"])
@pytest.mark.parametrize("field", ["accountable", "responsible"])
def test_an_owner_or_responsible_who_may_not_be_is_refused(
    client_for, team_member, everyone, initiative_at, person, field
):
    # given an initiative owned by a team member
    initiative = initiative_at(Step.PLAN)
    before = initiative_state(initiative)
    user = everyone.get(person)
    value = user.username if user else person
    # when they post someone who may not hold the role, as if by hand
    posted = value if field == "accountable" else [user.pk if user else value]
    response = client_for(team_member).post(
        url("initiative-details", initiative.reference),
        _details(initiative, **{field: posted}, title="Changed"),
        **HTMX,
    )
    # then the form says why, and nothing changed
    assert response.status_code == 422
    answer = text(response)
    if user:
        assert f"({value}) cannot be {field}: only the Improvement team" in answer
    else:
        assert f"No one matches “{value}”" in answer
    assert initiative_state(initiative) == before


@pytest.mark.parametrize("person", ["integration", "inactive", "norole"])
@pytest.mark.parametrize("field", ["consulted", "informed"])
def test_consulted_or_informed_without_a_browser_role_is_refused(
    client_for, team_member, everyone, initiative_at, person, field
):
    initiative = initiative_at(Step.PLAN)
    before = initiative_state(initiative)
    user = everyone[person]
    response = client_for(team_member).post(
        url("initiative-details", initiative.reference),
        _details(initiative, **{field: [user.pk]}, title="Changed"),
        **HTMX,
    )
    assert response.status_code == 422
    assert f"({user.username}) cannot be {field}: only people with a browser role" in text(response)
    assert initiative_state(initiative) == before


@pytest.mark.parametrize("person", ["team", "service_owner", "process_owner", "csi", "superuser"])
def test_who_may_own_is_accepted_by_name_username_or_email(
    client_for, team_member, everyone, initiative_at, person
):
    initiative = initiative_at(Step.PLAN)
    user = everyone[person]
    client = client_for(team_member)
    for typed in (
        f"{user.get_full_name()} ({user.username})",  # as the list shows them
        user.username.upper(),
        user.email,
        user.get_full_name(),
    ):
        response = client.post(
            url("initiative-details", initiative.reference),
            _details(initiative, accountable=typed, responsible=[team_member.pk, user.pk]),
        )
        assert response.status_code == 302, typed
        initiative.refresh_from_db()
        assert initiative.accountable == user, typed
        assert set(initiative.responsible.all()) == {team_member, user}
        initiative.accountable = team_member
        initiative.save(update_fields=["accountable"])


def test_a_viewer_may_be_consulted_and_informed(client_for, team_member, everyone, initiative_at):
    initiative = initiative_at(Step.PLAN)
    viewer = everyone["viewer"]
    response = client_for(team_member).post(
        url("initiative-details", initiative.reference),
        _details(initiative, consulted=[viewer.pk], informed=[viewer.pk]),
    )
    assert response.status_code == 302
    assert list(initiative.consulted.all()) == [viewer] == list(initiative.informed.all())


@pytest.mark.parametrize("person", REFUSED)
def test_an_action_owner_who_may_not_be_is_refused(
    client_for, team_member, everyone, initiative_at, person
):
    initiative = initiative_at(Step.ACTION, complete=False)
    response = client_for(team_member).post(
        url("action-create", initiative.reference),
        {"title": "Write the runbook", "owner": everyone[person].username, "status": "planned"},
        **HTMX,
    )
    assert response.status_code == 422
    assert f"({everyone[person].username}) cannot be an action’s owner" in text(response)
    assert not Action.objects.filter(initiative=initiative).exists()


def test_an_action_owner_is_typed(client_for, team_member, everyone, initiative_at):
    initiative = initiative_at(Step.ACTION, complete=False)
    owner = everyone["process_owner"]
    response = client_for(team_member).post(
        url("action-create", initiative.reference),
        {"title": "Write the runbook", "owner": owner.email, "status": "planned"},
    )
    assert response.status_code == 302
    assert Action.objects.get(initiative=initiative).owner == owner


def test_someone_holding_a_role_they_may_no_longer_hold_is_kept_when_unchanged(
    client_for, team_member, everyone, initiative_at
):
    # given an action owned, and an initiative with R, by someone now only a viewer
    initiative = initiative_at(Step.ACTION, complete=False)
    former = everyone["service_owner"]
    initiative.responsible.add(former)
    action = Action.objects.create(initiative=initiative, title="Runbook", owner=former)
    former.groups.set([everyone["viewer"].groups.get()])
    client = client_for(team_member)
    # then the page shows them where they are (not offered to anyone new)
    html = client.get(page(initiative)).content.decode()
    assert f'value="{former.get_full_name()} (p-service_owner)"' in html
    assert "p-service_owner" not in _offered(html, "id_newaction_owner_people")
    assert "(may no longer hold this role)" in html
    # and other changes save without removing them
    response = client.post(
        url("action-update", initiative.reference, action.pk), {"quick_status": "done"}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == "done" and action.owner == former
    response = client.post(
        url("initiative-details", initiative.reference),
        _details(initiative, responsible=[team_member.pk, former.pk], title="Renamed"),
    )
    assert response.status_code == 302
    assert former in initiative.responsible.all()


def test_a_form_reads_the_people_it_offers_in_one_query(
    team_member, everyone, initiative_at, django_assert_num_queries
):
    initiative = initiative_at(Step.PLAN)
    initiative = selectors.initiative_detail(team_member).get(pk=initiative.pk)
    data = _details(initiative, consulted=[everyone["viewer"].pk], informed=[team_member.pk])
    # one query for the people of its four pickers, none to validate or render them
    with django_assert_num_queries(1):
        form = InitiativeForm(data, instance=initiative)
        assert form.is_valid(), form.errors
        str(form["accountable"]), str(form["consulted"])
    with django_assert_num_queries(1):
        form = ActionForm({"title": "Runbook", "owner": "tina", "status": "planned"})
        assert form.is_valid(), form.errors
        str(form["owner"])


def test_part_of_a_name_names_the_one_person_it_matches(
    client_for, team_member, everyone, initiative_at
):
    initiative = initiative_at(Step.PLAN)
    client = client_for(team_member)
    # only the process owner's email holds "pat."
    everyone["process_owner"].email = "pat.process@example.com"
    everyone["process_owner"].save()
    response = client.post(
        url("initiative-details", initiative.reference), _details(initiative, accountable="PAT.")
    )
    assert response.status_code == 302
    initiative.refresh_from_db()
    assert initiative.accountable == everyone["process_owner"]
    # a part that several may hold names no one: the answer lists them
    response = client.post(
        url("initiative-details", initiative.reference),
        _details(initiative, accountable="p-", title="Changed"),
        **HTMX,
    )
    assert response.status_code == 422
    assert "“p-” matches several people (" in text(response)
    assert initiative.accountable == everyone["process_owner"]


@pytest.mark.parametrize(
    "typed",
    ["tina\x00", "²", "9" * 30, "\ufffd"],
    ids=["NUL", "a digit to Python that int() refuses", "an id beyond the database's", "U+FFFD"],
)
def test_a_person_typed_as_nonsense_is_refused_without_asking_the_database_badly(
    client_for, team_member, initiative_at, typed
):
    # given an initiative owned by a team member
    initiative = initiative_at(Step.PLAN)
    before = initiative_state(initiative)
    # when its owner is posted as something no database lookup can take
    response = client_for(team_member).post(
        url("initiative-details", initiative.reference),
        _details(initiative, accountable=typed, title="Changed"),
        **HTMX,
    )
    # then the form refuses it (no 500) and nothing changed
    assert response.status_code == 422
    assert "choose a person from the list" in text(response)
    assert initiative_state(initiative) == before
