"""The workflow panel of an initiative: where it stands and the moves it can make.

An initiative moves on its transition page (`<id>/transition/`, also embedded in the
change form), which lists `workflow.allowed_transitions` — every allowed move as a POST
button, every blocked one with its unmet conditions — and posts to
`services.initiative_transition`, which checks the guards and the permission.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import services, workflow
from ..choices import Outcome, Step
from ..exceptions import CIRError, Conflict
from ..models import Initiative
from ..workflow import allowed_transitions
from .base import report_error, status_badge

#: inputs a move may require, as the transition forms ask for them
REQUIREMENT_LABELS = {
    "reason": "Reason",
    "lessons_learned": "Lessons learned",
    "outcome": "Outcome",
}


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
                "requires": [
                    {"name": name, "label": REQUIREMENT_LABELS.get(name, name)}
                    for name in t.requires
                ],
            }
            for t in allowed_transitions(initiative, request.user)
        ]
        return {
            "initiative": initiative,
            "step_label": initiative.get_step_display(),
            "is_final": initiative.is_final,
            "stepper": stepper(initiative),
            "moves": moves,
            "not_permitted": [m for m in moves if not m["t"].permitted],
            "can_move": self.has_change_permission(request, initiative),
            "transition_url": self._url("transition", initiative),
            "outcome_choices": Outcome.choices,
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
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request, initiative):
                raise PermissionDenied
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
        from_step = request.POST.get("from_step")
        if from_step and from_step != initiative.step:
            # the page was read before someone else moved it: do not act on stale buttons
            report_error(
                request,
                Conflict(
                    f"The initiative was moved by someone else: it is now in "
                    f"'{initiative.get_step_display()}'. Check the moves again."
                ),
            )
            return
        inputs = {
            name: request.POST[name].strip()
            for name in REQUIREMENT_LABELS
            if request.POST.get(name, "").strip()
        }
        try:
            moved = services.initiative_transition(
                initiative=initiative,
                to=request.POST.get("to", ""),
                actor=request.user,
                comment=request.POST.get("comment", "").strip(),
                **inputs,
            )
        except CIRError as exc:
            report_error(request, exc)
            return
        change = f"Moved from '{initiative.get_step_display()}' to '{moved.get_step_display()}'."
        self.log_change(request, moved, change)
        messages.success(request, f"{moved.reference}: {change}")
