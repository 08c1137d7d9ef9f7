"""The frame every page shares: responses that htmx may ask for in part say so to caches
(Vary: HX-Request), htmx's history asks for whole pages, the skip link, and a refusal (403)
logged as one line, not a traceback."""

import json
import logging
import logging.config
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


# --- quiet logs ---------------------------------------------------------------------------


@pytest.fixture
def site_logging():
    """The request loggers as the site's settings configure them (the test settings keep
    logging bare): their filters from cir/settings/base.py, put back afterwards."""
    from cir.settings import base

    names = ("django.request", "django.security")
    saved = {name: logging.getLogger(name).filters[:] for name in names}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": base.LOGGING["filters"],
            "loggers": {name: base.LOGGING["loggers"][name] for name in names},
        }
    )
    yield
    for name, filters in saved.items():
        logging.getLogger(name).filters[:] = filters


@pytest.mark.parametrize(
    ("who", "method", "name"),
    [("integration", "get", "register"), ("team_member", "post", "goals")],
)
def test_a_refusal_is_logged_as_one_line_without_a_traceback(
    request, client_for, caplog, site_logging, who, method, name
):
    # an ITSM account opening a page, a team member posting a goal: both refused with 403
    client = client_for(request.getfixturevalue(who))
    with caplog.at_level(logging.INFO, logger="django.request"):
        response = getattr(client, method)(url(name), {"title": "x"})
    assert response.status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"Forbidden (Permission denied): {url(name)}"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback(client_for, viewer, caplog, site_logging, monkeypatch):
    from improvement.web import pages

    def broken(request):
        raise RuntimeError("the register broke")

    monkeypatch.setattr(pages, "register_page", broken)
    client = client_for(viewer)
    client.raise_request_exception = False
    with caplog.at_level(logging.INFO, logger="django.request"):
        assert client.get(url("register")).status_code == 500
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None


@pytest.mark.parametrize("name", ["register", "portfolio", "goals", "propose"])
def test_every_page_opens_with_a_skip_link_to_the_main_content(client_for, team_member, name):
    html = client_for(team_member).get(url(name)).content.decode()
    body = html[html.index("<body") :]
    first_link = re.search(r"<a [^>]*>[^<]*</a>", body)[0]
    assert 'href="#main"' in first_link and ">Skip to main content</a>" in first_link
    assert '<main id="main"' in html


def test_the_frame_shows_no_template_comment(client_for, viewer):
    assert "{#" not in client_for(viewer).get(url("register")).content.decode()
