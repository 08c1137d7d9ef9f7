"""Every model of the register is in the admin, and its pages render."""

import pytest
from django.apps import apps
from django.contrib import admin

from improvement.models import (
    KPI,
    Action,
    Baseline,
    Counter,
    Event,
    Goal,
    Initiative,
    KPICheck,
    KPIRevision,
    Measurement,
    Plan,
    Practice,
    Review,
    Service,
    Sustain,
    Target,
    TransitionLog,
    Vision,
)

from .support import admin_url

pytestmark = pytest.mark.django_db


ALL_MODELS = [
    Goal,
    Service,
    Practice,
    Initiative,
    Vision,
    Baseline,
    Target,
    Plan,
    Sustain,
    Action,
    Review,
    KPI,
    KPIRevision,
    Measurement,
    KPICheck,
    TransitionLog,
    Event,
    Counter,
]


def test_every_model_is_registered():
    assert set(ALL_MODELS) <= set(admin.site._registry)
    from improvement.models import Tally

    # the running counts are the triggers' bookkeeping, read by the pages, never edited
    app_models = {
        m
        for m in apps.get_app_config("improvement").get_models()
        if not m.__name__.startswith("Historical") and not issubclass(m, Tally)
    }
    shown_inline = {i.model for ma in admin.site._registry.values() for i in ma.inlines}
    assert app_models - set(admin.site._registry) - shown_inline == set()


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_page_render_for_csi_manager(csi_client, populated, model):
    listing = csi_client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    results = list(listing.context["cl"].result_list)
    assert results, f"no {model.__name__} rows to list"
    page = csi_client.get(admin_url(model, "change", results[0].pk))
    assert page.status_code == 200


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_search_works(csi_client, populated, model):
    assert admin.site._registry[model].search_fields
    response = csi_client.get(admin_url(model, "changelist"), {"q": "CIR"})
    assert response.status_code == 200
