"""What the admin gives assistive technology: a name for every input of an inline row and
every column header, pickers that are native labelled controls, badges that read at WCAG
AA, a "Cancel" that says what it cancels, and the project's icon.

The whole of it is checked with axe-core in a browser by tests/e2e/test_accessibility.py;
these tests pin each fix without one.
"""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.admin.widgets import FilteredSelectMultiple, RelatedFieldWidgetWrapper
from django.forms import Select

from improvement.admin.base import status_badge
from improvement.choices import STATUS_COLOURS, ActionStatus, Step
from improvement.models import Action

from .support import change_url, transition_url

pytestmark = pytest.mark.django_db


class Controls(HTMLParser):
    """The form controls of a page, the targets of its labels, and its table headers."""

    def __init__(self):
        super().__init__()
        self.controls, self.labelled, self.headers = [], set(), []
        self._header = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            self.controls.append(attrs.get("id"))
            if attrs.get("aria-label"):
                self.labelled.add(attrs.get("id"))
        if tag == "label" and attrs.get("for"):
            self.labelled.add(attrs["for"])
        if tag == "th":
            self._header = []

    def handle_data(self, data):
        if self._header is not None:
            self._header.append(data)

    def handle_endtag(self, tag):
        if tag == "th" and self._header is not None:
            self.headers.append("".join(self._header).strip())
            self._header = None


def controls_of(response) -> Controls:
    parser = Controls()
    parser.feed(response.content.decode())
    return parser


@pytest.fixture
def at_action_step(initiative_at, team_member):
    """An initiative at step 5 with two actions: the KPI and action inlines show rows."""
    initiative = initiative_at(Step.ACTION)
    for title in ("Write the runbook", "Train the second line"):
        Action.objects.create(
            initiative=initiative, title=title, owner=team_member, status=ActionStatus.PLANNED
        )
    return initiative


def test_every_input_of_the_initiative_form_and_its_inline_rows_has_a_label(
    csi_client, at_action_step
):
    page = controls_of(csi_client.get(change_url(at_action_step)))
    rows = [c for c in page.controls if c and re.match(r"id_(kpis|actions)-\d+-", c)]
    assert len(rows) >= 10  # the KPI's and both actions' inputs and selects
    unlabelled = [c for c in page.controls if c and c not in page.labelled]
    assert unlabelled == []


def test_no_table_header_of_the_initiative_form_is_empty(csi_client, at_action_step):
    page = controls_of(csi_client.get(change_url(at_action_step)))
    assert page.headers and "" not in page.headers


def test_the_transition_log_scrolls_by_keyboard_on_a_narrow_screen(csi_client, at_action_step):
    # a read-only table has nothing to focus: its region takes the focus itself
    html = csi_client.get(change_url(at_action_step)).content.decode()
    start = html.index('id="transitions-group"')
    tag = html[start : html.index(">", start)]
    assert 'tabindex="0"' in tag and 'role="region"' in tag
    assert 'aria-labelledby="transitions-heading"' in tag


def test_people_and_goal_pickers_are_native_labelled_controls(csi_client, at_action_step):
    # the select2 autocomplete leaves its search box and an empty choice without a name
    form = csi_client.get(change_url(at_action_step)).context["adminform"].form
    for name in ("goals", "responsible", "consulted", "informed"):
        widget = form.fields[name].widget
        assert isinstance(getattr(widget, "widget", widget), FilteredSelectMultiple), name
    for name in ("accountable", "service", "practice"):
        widget = form.fields[name].widget
        assert isinstance(widget, RelatedFieldWidgetWrapper) and type(widget.widget) is Select


def contrast(first: str, second: str) -> float:
    """WCAG 2's contrast ratio of two colours written #rgb or #rrggbb."""

    def luminance(colour: str) -> float:
        hex_ = colour[1:] if len(colour) == 7 else "".join(c * 2 for c in colour[1:])
        srgb = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in srgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("status", sorted(STATUS_COLOURS))
def test_every_status_badge_reads_at_wcag_aa(status):
    html = status_badge(status, "label")
    background = re.search(r"background:(#[0-9a-fA-F]+)", html).group(1)
    ink = re.search(r";color:(#[0-9a-fA-F]+)", html).group(1)
    assert contrast(background, ink) >= 4.5


def test_the_change_form_offers_cancelling_the_initiative_only_as_a_link_to_its_reason(
    csi_client, at_action_step
):
    # given an initiative being edited; when its change form is shown
    response = csi_client.get(change_url(at_action_step))
    html = response.content.decode()
    # then no button there is a bare "Cancel", and no form on it cancels the initiative
    assert not re.search(r">\s*Cancel\s*<", html)
    assert 'id="move-cancelled"' not in html
    # but a link names what it ends and leads to the moves page, where the reason is asked
    link = f'href="{transition_url(at_action_step)}#move-cancelled"'
    assert link in html
    assert re.search(re.escape(link) + r"[^>]*>Cancel the initiative…</a>", html)


def test_the_transition_page_cancels_the_initiative_with_its_reason(csi_client, at_action_step):
    html = csi_client.get(transition_url(at_action_step)).content.decode()
    start = html.index('id="move-cancelled"')
    form = html[start : html.index("</form>", start)]
    assert 'name="reason"' in form and 'name="lessons_learned"' in form
    assert re.search(r"<button[^>]*>Cancel the initiative</button>", form)


def test_favicon_ico_leads_to_the_project_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("improvement/favicon.svg")


def test_admin_pages_name_the_project_icon(csi_client):
    html = csi_client.get("/admin/").content.decode()
    assert re.search(r'<link rel="icon" href="[^"]*improvement/favicon\.svg"', html)
