"""The workflow panel of an initiative: where it stands and the moves it can make.

An initiative moves on its transition page (`<id>/transition/`, also embedded in the
change form), which lists `workflow.allowed_transitions` — every allowed move as a POST
form with an input for each thing it requires, every blocked one with its unmet
conditions — and posts to `services.initiative_transition` with the step the page showed
(`from_step`): the service checks the guards, the permission and the inputs, and answers a
move from an out-of-date page with what changed.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import permissions, services, workflow
from ..choices import Outcome, Step
from ..exceptions import CIRError
from ..models import Initiative
from ..workflow import allowed_transitions
from .base import report_error, status_badge

#: the inputs a move may take, as the transition forms ask for them: (label, widget)
INPUTS = {
    "reason": ("Reason", "textarea"),
    "lessons_learned": ("Lessons learned", "textarea"),
    "outcome": ("Outcome", "select"),
    "override": ("Override justification", "textarea"),
    "resume_by": ("Resume by", "date"),
}
OVERRIDE_HELP = (
    "Only if the outcome departs from what the KPIs of the last review say: why. It is kept "
    "on the initiative and shown as an override."
)


def move_inputs(requires) -> list[dict]:
    """The inputs of one move's form: each one it requires and, with an outcome, the
    optional justification of an outcome the data does not support."""
    names = [*requires, *(["override"] if "outcome" in requires else [])]
    return [
        {
            "name": name,
            "label": INPUTS.get(name, (name, ""))[0],
            "widget": INPUTS.get(name, ("", "textarea"))[1],
            "required": name in requires,
            "help": OVERRIDE_HELP if name == "override" else "",
        }
        for name in names
    ]


def stepper(initiative: Initiative) -> list[dict]:
    """The seven steps with where the initiative stands: done, current or to do."""
    return [
        {"value": value, "label": Step(value).label, "state": state}
        for value, state in workflow.step_progress(initiative)
    ]


class WorkflowPanelMixin:
    """The transition page of the initiative admin, and the panel on its change form."""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="{}_{}_transition".format(*info),
            ),
            *super().get_urls(),
        ]

    def _url(self, view: str, initiative: Initiative) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{view}",
            args=[initiative.pk],
            current_app=self.admin_site.name,
        )

    def workflow_context(self, request, initiative: Initiative, *, back_to: str) -> dict:
        """What the change form and the transition page show about the initiative's moves."""
        moves = [
            {
                "t": t,
                "inputs": move_inputs(t.requires),
                # "Cancel" alone on an edit form reads as leaving the edit: a move that
                # ends the initiative unfinished names it, and the change form sends it
                # to the transition page, where its reason is asked on a page of its own
                "label": f"{t.label} the initiative" if t.tone == "danger" else t.label,
                "elsewhere": back_to == "change" and t.tone == "danger",
            }
            for t in allowed_transitions(initiative, request.user)
        ]
        # a closing form proposes the outcome the KPIs of the last review support
        proposed = ""
        if any("outcome" in m["t"].requires for m in moves):
            proposed = workflow.proposed_outcome(workflow.last_review_snapshot(initiative))
        return {
            "initiative": initiative,
            "step_label": initiative.get_step_display(),
            "is_final": initiative.is_final,
            "stepper": stepper(initiative),
            "moves": moves,
            "not_permitted": [m for m in moves if not m["t"].permitted],
            "can_move": self.has_change_permission(request, initiative),
            "move_denied": permissions.NEED_EDIT,
            "transition_url": self._url("transition", initiative),
            "outcome_choices": Outcome.choices,
            "proposed_outcome": proposed,
            "proposed_outcome_label": Outcome(proposed).label if proposed else "",
            "back_to": back_to,
            "health": status_badge(initiative.health, initiative.get_health_display()),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_or_change_permission(request, obj):
            extra_context["workflow"] = self.workflow_context(request, obj, back_to="change")
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, object_id):
        """GET: the moves of the initiative; POST: make one through the workflow service."""
        initiative = self.get_object(request, unquote(object_id))
        if initiative is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, initiative):
            raise PermissionDenied(permissions.NEED_VIEW)
        if request.method == "POST":
            if not self.has_change_permission(request, initiative):
                raise PermissionDenied(permissions.NEED_EDIT)
            self._transition(request, initiative)
            back_to = "change" if request.POST.get("next") == "change" else "transition"
            return HttpResponseRedirect(self._url(back_to, initiative))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move {initiative}",
            "subtitle": None,
            "opts": self.opts,
            "original": initiative,
            "has_view_permission": self.has_view_permission(request, initiative),
            "workflow": self.workflow_context(request, initiative, back_to="transition"),
            "log": initiative.transitions.select_related("actor").order_by("at", "id"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/improvement/initiative/transition.html", context)

    def _transition(self, request, initiative: Initiative) -> None:
        inputs = {
            name: request.POST[name].strip()
            for name in INPUTS
            if request.POST.get(name, "").strip()
        }
        try:
            moved = services.initiative_transition(
                initiative=initiative,
                to=request.POST.get("to", ""),
                actor=request.user,
                comment=request.POST.get("comment", "").strip(),
                # the step the page showed: a move from a stale page is refused with what changed
                from_step=request.POST.get("from_step") or None,
                **inputs,
            )
        except CIRError as exc:
            report_error(request, exc)
            return
        change = f"Moved from '{initiative.get_step_display()}' to '{moved.get_step_display()}'."
        self.log_change(request, moved, change)
        messages.success(request, f"{moved.reference}: {change}")
