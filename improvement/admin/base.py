"""The admin's common ground: service-calling saves, domain errors as messages, the CSI
manager's rights, and the read-only and history bases the model admins build on.

A model admin holds no business rule of its own: a save hands the form-filled instance to
the service of its entity (the `write_*` functions below), and a domain error comes back
as a page message, with nothing saved.
"""

from __future__ import annotations

from collections.abc import Collection

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_fsm import ConcurrentTransition
from simple_history.admin import SimpleHistoryAdmin

from .. import permissions, services
from ..choices import STATUS_COLOURS
from ..exceptions import CIRError, Conflict, InvalidInput, TransitionBlocked
from ..models import KPI, Review
from ..services.initiatives import ACTION_FIELDS, RECORDS
from ..services.kpis import KPI_FIELDS, LOCKED_FIELDS, LOCKED_HOW_TO_PROCEED

#: the step record models and the name `services.step_record_update` knows them by
STEP_RECORD_NAMES: dict[type, str] = {model: name for name, (model, _) in RECORDS.items()}

#: what a reviewer writes; the iteration, the reviewer and the KPI snapshot come from the
#: service, which keeps the override only when the decision departs from the snapshot
REVIEW_INPUTS = ("decision", "decision_override", "progress_check", "value_check", "notes")

#: a review as the admin shows it, in its inline and on its own page: a stored override
#: stands next to the decision it justifies
REVIEW_FIELDS = ("iteration", "decision", "decision_override", "progress_check", "value_check",
                 "notes", "reviewed_by", "created_at", "snapshot")  # fmt: skip
REVIEW_READONLY = ("iteration", "reviewed_by", "created_at", "snapshot")


# --- display --------------------------------------------------------------------------------


#: dark ink for a badge whose colour is too light for white text
DARK_INK = "#0f172a"


def _luminance(colour: str) -> float:
    """The relative luminance of a #rrggbb colour (WCAG 2)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_on(background: str) -> str:
    """White text on the colour when that reads at WCAG AA (4.5:1), else dark text."""
    return "#fff" if contrast(background, "#ffffff") >= 4.5 else DARK_INK


class LabelledTabularInline(admin.TabularInline):
    """A tabular inline whose inputs and column headers all have names for assistive
    technology (Django's own leaves the inputs of its rows unlabelled)."""

    template = "admin/improvement/edit_inline/tabular.html"


def status_badge(value: str, label: str) -> str:
    """A KPI status or health as a coloured pill (colours from choices.STATUS_COLOURS)."""
    colour = STATUS_COLOURS.get(str(value), "#64748b")
    return format_html(
        '<span class="cir-badge" style="background:{};color:{};border-radius:9px;'
        'padding:1px 8px;white-space:nowrap">{}</span>',
        colour,
        ink_on(colour),
        label,
    )


def kpi_snapshot_table(review: Review | None) -> str:
    """A review's KPI snapshot as a small table."""
    rows = (review.kpi_snapshot or []) if review is not None and review.pk else []
    if not rows:
        return "–"
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                row.get("name"),
                row.get("baseline_value"),
                row.get("target_value"),
                row.get("current"),
                status_badge(row.get("status") or "", row.get("status") or "–"),
            )
            for row in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>KPI</th><th>baseline</th><th>target</th><th>current</th>"
        "<th>status</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


def revision_lines(changes: dict | None) -> list[str]:
    """A KPI revision's {field: [old, new]} as "field: old → new" lines."""

    def label(name: str) -> str:
        try:
            return str(KPI._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:  # a field since removed from the model
            return name

    def shown(value) -> str:
        return "–" if value in (None, "") else str(value)

    return [
        f"{label(name)}: {shown(old)} → {shown(new)}"
        for name, (old, new) in (changes or {}).items()
    ]


def revision_changes(changes: dict | None) -> str:
    """A KPI revision's changes, one "field: old → new" per line."""
    lines = revision_lines(changes)
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) if lines else "–"


class StatusBadgeMixin:
    """A KPI's or a check's status, in its colour."""

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status, obj.get_status_display()) if obj.pk else "–"


class ReviewSnapshotMixin:
    """The KPI snapshot a review took when it was written."""

    @admin.display(description="KPI snapshot")
    def snapshot(self, obj):
        return kpi_snapshot_table(obj)


# --- errors -------------------------------------------------------------------------------


def report_error(request, exc: CIRError) -> None:
    """Show a domain error as admin messages: every unmet condition, every field error."""
    messages.error(request, exc.message)
    if isinstance(exc, TransitionBlocked):
        for reason in exc.reasons:
            messages.error(request, reason)
    elif isinstance(exc, InvalidInput) and isinstance(exc.errors, dict):
        for field_name, errors in exc.errors.items():
            for error in errors if isinstance(errors, list | tuple) else [errors]:
                if str(error) != exc.message:
                    messages.error(request, f"{field_name}: {error}")


class ServiceWritesMixin:
    """Turns domain errors raised by services during a save or delete into messages.

    The admin wraps the save in a transaction, so an error rolls everything back; the
    user is sent back to the page with the error instead of a 500.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except CIRError as exc:
            report_error(request, exc)
        except ConcurrentTransition:
            report_error(
                request,
                Conflict("The initiative was moved by someone else. Reload and try again."),
            )
        return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except CIRError as exc:
            report_error(request, exc)
        return HttpResponseRedirect(request.get_full_path())


# --- KPI definitions -------------------------------------------------------------------------

#: why a KPI's baseline and target are read-only after step 3, and how to proceed
#: the help of a locked field: the core's words, and where the admin re-baselines
DEFINITION_LOCKED = f"{LOCKED_HOW_TO_PROCEED} (Re-baseline… on the KPI's page.)"


class KPIDefinitionForm(forms.ModelForm):
    """A KPI's form (own page or inline) whose definition fields are shown read-only while
    they are locked (`definition_locked`, set per request from workflow.kpi_definition_locked).

    A locked field is disabled, so a save from a page that showed it read-only leaves it
    as stored. When the posted data does carry it (a page opened before the lock), it stays
    an ordinary field: its change goes to services.kpi_update, which refuses it with what
    to do, instead of being dropped without a word.
    """

    definition_locked = False
    LOCKABLE = (*LOCKED_FIELDS, "target_change_pct")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.definition_locked or self.instance.pk is None:
            return
        for name in self.LOCKABLE:
            posted = self.is_bound and self.add_prefix(name) in self.data
            if name in self.fields and not posted:
                self.fields[name].disabled = True
                self.fields[name].help_text = DEFINITION_LOCKED

    @classmethod
    def with_lock(cls, locked: bool) -> type[KPIDefinitionForm]:
        """This form class, with its definition fields locked or not."""
        return type(cls.__name__, (cls,), {"definition_locked": locked})


# --- saves through the services -----------------------------------------------------------


def for_each(request, queryset, write, *, done, failed) -> None:
    """`write` each selected row through its service, as a bulk action does; report what
    was done (`done(rows)`, unless every row was refused), then every refusal
    (`failed(row, error)`), row by row."""
    written, failures = [], []
    for obj in queryset:
        try:
            write(obj)
        except CIRError as exc:
            failures.append(failed(obj, exc))
        else:
            written.append(obj)
    if written or not failures:
        messages.success(request, done(written))
    for failure in failures:
        messages.error(request, failure)


def adopt(obj, saved) -> None:
    """Make the admin's unsaved `obj` the row a service created (pk, reference, state)."""
    obj.__dict__.update(saved.__dict__)


def values_of(obj, names, *, only=None) -> dict:
    """The attributes `names` of a form-filled instance, optionally limited to `only`."""
    return {n: getattr(obj, n) for n in names if only is None or n in only}


def write_step_record(obj, *, initiative, actor):
    """Create or update a form-filled step record (vision, baseline, …) of `initiative`."""
    name = STEP_RECORD_NAMES[type(obj)]
    return services.step_record_update(
        initiative=initiative, record=name, actor=actor, **values_of(obj, RECORDS[name][1])
    )


def write_action(obj, *, initiative, actor, only: Collection[str] | None = None):
    """Create a new form-filled action of `initiative`, or update the fields `only` of an
    existing one."""
    if obj.pk is None:
        return services.action_create(
            initiative=initiative, actor=actor, **values_of(obj, ACTION_FIELDS)
        )
    data = values_of(obj, ACTION_FIELDS, only=only)
    return services.action_update(action=obj, actor=actor, **data)


def write_kpi(obj, *, initiative, actor, only: Collection[str] | None = None, **extra):
    """Create a new form-filled KPI of `initiative` or update an existing one, with its
    fields limited to `only`; `extra` goes to the service as it is (target_change_pct)."""
    data = values_of(obj, KPI_FIELDS, only=only) | extra
    if obj.pk is None:
        return services.kpi_create(initiative=initiative, actor=actor, **data)
    return services.kpi_update(kpi=obj, actor=actor, **data)


def write_review(obj, *, initiative, actor):
    """Record a form-filled review of the initiative's current iteration."""
    return services.review_create(
        initiative=initiative, actor=actor, **values_of(obj, REVIEW_INPUTS)
    )


# --- rights -------------------------------------------------------------------------------


class RolePermissionsMixin:
    """CSI managers hold every right in the admin by their role (SPEC §5: "everything");
    anyone else needs Django's model permissions. Subclasses refine with the register's
    rules (permissions.py), never loosen them."""

    def _is_csi(self, request) -> bool:
        return permissions.is_csi_manager(request.user)

    def has_module_permission(self, request):
        return self._is_csi(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._is_csi(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return self._is_csi(request) or super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self._is_csi(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_csi(request) or super().has_delete_permission(request, obj)


class ManagersOnlyMixin:
    """Screens for CSI managers (and superusers) alone, whatever model permissions a group
    or a user was given: webhooks and their signing secrets (SPEC §5, "webhooks")."""

    def _may_manage(self, request) -> bool:
        return permissions.may_manage(request.user)

    def has_module_permission(self, request):
        return self._may_manage(request)

    def has_view_permission(self, request, obj=None):
        return self._may_manage(request)

    def has_add_permission(self, request, *args):
        return self._may_manage(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self._may_manage(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_manage(request) and super().has_delete_permission(request, obj)


class KeptAsWrittenMixin:
    """Rows that, once written, are never changed or deleted in the admin."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(KeptAsWrittenMixin):
    """Rows written only by the system: not even added in the admin."""

    def has_add_permission(self, request, obj=None):
        return False


class DeletedByServiceMixin:
    """The service deletes the owned rows (records, measurements, log) with the row, so
    the admin's per-model delete rights on them are not asked."""

    def get_deleted_objects(self, objs, request):
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected


class ReadOnlyAdmin(ReadOnlyMixin, RolePermissionsMixin, admin.ModelAdmin):
    """Rows written only by the system (logs, checks, events): to read, never to edit."""


class NoRevertHistoryAdmin(RolePermissionsMixin, SimpleHistoryAdmin):
    """History (who, when, what changed) to read; reverting would bypass the services."""

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Reverting to an old version is not offered.")
        return super().history_form_view(request, object_id, version_id, extra_context)
