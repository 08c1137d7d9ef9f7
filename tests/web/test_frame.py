"""The frame every page shares: responses that htmx may ask for in part say so to caches
(Vary: HX-Request), htmx's history asks for whole pages, the skip link, and a refusal (403)
logged as one line, not a traceback."""

import json
import re

import pytest

from improvement.choices import Step

from .conftest import HTMX, page, url

pytestmark = pytest.mark.django_db


def _vary(response) -> set[str]:
    return {v.strip().lower() for v in response.get("Vary", "").split(",") if v.strip()}


@pytest.mark.parametrize("htmx", [False, True])
def test_register_varies_on_the_htmx_header(client_for, viewer, htmx):
    # the results alone (htmx) and the whole page share one URL: a cache must tell them apart
    extra = {"HTTP_HX_TARGET": "register-results", **HTMX} if htmx else {}
    response = client_for(viewer).get(url("register"), {"step": "plan"}, **extra)
    assert response.status_code == 200
    assert "hx-request" in _vary(response)


@pytest.mark.parametrize("htmx", [False, True])
def test_initiative_page_varies_on_the_htmx_header(client_for, team_member, initiative_at, htmx):
    initiative = initiative_at(Step.PLAN)
    response = client_for(team_member).get(page(initiative), **(HTMX if htmx else {}))
    assert response.status_code == 200
    assert "hx-request" in _vary(response)


def test_htmx_history_restores_ask_for_whole_pages(client_for, viewer):
    # htmx 2 sends HX-Request on a history restore unless told not to; our views answer an
    # HX-Request with a part of the page, which would then replace the whole body
    html = client_for(viewer).get(url("register")).content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)[1])
    assert config["historyRestoreAsHxRequest"] is False
