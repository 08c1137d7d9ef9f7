"""Posting admin forms the way a browser would: the data of the rendered change form
(main form and inlines) is collected from the page context, changed, and posted back.
"""

import datetime as dt

from django.contrib.messages import get_messages
from django.forms import CheckboxInput
from django.urls import reverse

from improvement.models import Initiative, TransitionLog


def admin_url(model_or_obj, view: str, *args) -> str:
    opts = model_or_obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def change_url(initiative) -> str:
    return admin_url(Initiative, "change", initiative.pk)


def transition_url(initiative) -> str:
    return admin_url(Initiative, "transition", initiative.pk)


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _form_values(form) -> dict:
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(field.widget, CheckboxInput):
            if value:
                data[key] = "on"
        elif value is None:
            continue
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        elif isinstance(value, dt.date):
            data[key] = value.isoformat()
        else:
            data[key] = str(value)
    return data


def form_data(page) -> dict:
    """The POST body of the admin form on `page`, unchanged; blank extra inline rows left out."""
    data = _form_values(page.context["adminform"].form)
    for inline in page.context.get("inline_admin_formsets", []):
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value())
        data[management.add_prefix("TOTAL_FORMS")] = str(len(formset.initial_forms))
        for form in formset.initial_forms:
            data.update(_form_values(form))
    return data


def add_row(data: dict, prefix: str, **fields) -> None:
    """Append a new inline row to posted data."""
    total_key = f"{prefix}-TOTAL_FORMS"
    index = int(data[total_key])
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[total_key] = str(index + 1)


def form_errors(page) -> dict:
    errors = {}
    if page.context and "adminform" in page.context:
        errors["form"] = page.context["adminform"].form.errors
        for inline in page.context.get("inline_admin_formsets", []):
            if inline.formset.total_error_count():
                errors[inline.formset.prefix] = inline.formset.errors
    return errors


def save_initiative(client, initiative, *, fields=None, rows=None):
    """Post the initiative's change form with `fields` changed and `rows` added to inlines."""
    page = client.get(change_url(initiative))
    assert page.status_code == 200
    data = form_data(page)
    data.update(fields or {})
    for prefix, new_rows in (rows or {}).items():
        for row in new_rows:
            add_row(data, prefix, **row)
    response = client.post(change_url(initiative), data)
    assert response.status_code == 302, form_errors(response)
    return response


def move(client, initiative, to: str, **fields):
    """Post one move on the transition page, as its button does."""
    initiative.refresh_from_db()
    data = {"to": to, "from_step": initiative.step, **fields}
    return client.post(transition_url(initiative), data)


def steps_logged(initiative) -> list[tuple[str, str]]:
    return list(
        TransitionLog.objects.filter(initiative=initiative)
        .order_by("at", "id")
        .values_list("from_step", "to_step")
    )
