"""Who may do what (SPEC §5): roles are Django groups, refined by RACI and ownership.

One module used by the workflow, the API, the HTML views and the admin alike. Each
function takes the user first and answers a plain bool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .choices import FINAL_STEPS, SEVEN_STEPS, Role, Step

if TYPE_CHECKING:
    from .models import KPI, Initiative

_STEPS_TEAMS_MAY_MOVE = {str(s) for s in SEVEN_STEPS}
_CONTRIBUTOR_ROLES = {Role.IMPROVEMENT_TEAM, Role.SERVICE_OWNER, Role.PROCESS_OWNER}


def roles(user) -> frozenset[str]:
    """The CIR role names of `user` (cached on the user object for the request)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_cir_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._cir_roles = cached
    return cached


def is_csi_manager(user) -> bool:
    """CSI managers (and superusers) may do everything."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or Role.CSI_MANAGER in roles(user)


def is_integration(user) -> bool:
    """The ITSM integration role: API only, create proposed initiatives and post measurements."""
    return Role.ITSM_INTEGRATION in roles(user)


def may_view(user) -> bool:
    """Any user holding a CIR role (or a superuser) reads the whole register."""
    return is_csi_manager(user) or bool(roles(user) & set(Role.values))


def may_propose(user) -> bool:
    """Improvement teams, owners, integrations and CSI managers may propose initiatives."""
    return is_csi_manager(user) or bool(
        roles(user) & (_CONTRIBUTOR_ROLES | {Role.ITSM_INTEGRATION})
    )


def may_manage(user) -> bool:
    """Priorities, goals, services, webhooks, schedules, deletion: CSI managers only."""
    return is_csi_manager(user)


def _holds_raci_r_or_a(user, initiative: Initiative) -> bool:
    if initiative.accountable_id == user.pk:
        return True
    # use the prefetched RACI when the caller loaded it, else ask the database
    cache = getattr(initiative, "_prefetched_objects_cache", {})
    if "responsible" in cache:
        return any(u.pk == user.pk for u in cache["responsible"])
    return initiative.responsible.filter(pk=user.pk).exists()


def _owns_service_or_practice(user, initiative: Initiative) -> bool:
    user_roles = roles(user)
    owns_service = (
        Role.SERVICE_OWNER in user_roles
        and initiative.service_id is not None
        and initiative.service.owner_id == user.pk
    )
    owns_practice = (
        Role.PROCESS_OWNER in user_roles
        and initiative.practice_id is not None
        and initiative.practice.owner_id == user.pk
    )
    return owns_service or owns_practice


def may_contribute(user) -> bool:
    """Holds a role that works on initiatives (Improvement team, Service or Process owner)
    or is a CSI manager: the gate before the per-initiative `may_edit`."""
    return is_csi_manager(user) or bool(roles(user) & _CONTRIBUTOR_ROLES)


def may_feed(user) -> bool:
    """May post measurements to some KPI (see may_record_measurements for which)."""
    return may_contribute(user) or is_integration(user)


def may_use_browser(user) -> bool:
    """Any CIR role except an integration account alone (the ITSM role is API only)."""
    return is_csi_manager(user) or bool(roles(user) & (set(Role.values) - {Role.ITSM_INTEGRATION}))


def _contributes_to(user, initiative: Initiative) -> bool:
    """A contributor role and, on this initiative, R or A or ownership of its service or
    practice."""
    if not roles(user) & _CONTRIBUTOR_ROLES:
        return False
    return _holds_raci_r_or_a(user, initiative) or _owns_service_or_practice(user, initiative)


def may_edit(user, initiative: Initiative) -> bool:
    """Edit the initiative, its step records, actions, KPIs and measurements.

    Improvement team members, service owners and process owners may when they hold R or A
    on it; service / process owners also on initiatives of their service / practice.
    Nothing is edited once the initiative is closed, rejected or cancelled, except by a
    CSI manager.
    """
    if is_csi_manager(user):
        return True
    if initiative.step in FINAL_STEPS:
        return False
    return _contributes_to(user, initiative)


def may_record_measurements(user, kpi: KPI) -> bool:
    """Post measurements to a KPI: its editors, ITSM integrations and CSI managers.

    Unlike editing, this goes on after closure: the gains are watched.
    """
    if is_csi_manager(user) or is_integration(user):
        return True
    return _contributes_to(user, kpi.initiative)


# --- transition permissions (used by workflow/ as django-fsm `permission=`) --------------


def may_decide_intake(initiative: Initiative, user) -> bool:
    """Accept or reject a proposed initiative: CSI managers."""
    return is_csi_manager(user)


def may_end(initiative: Initiative, user) -> bool:
    """Cancel or close: CSI managers."""
    return is_csi_manager(user)


def may_move(initiative: Initiative, user) -> bool:
    """Move forward and back between vision and sustain, and put on hold and resume there:
    editors of the initiative."""
    if is_csi_manager(user):
        return True
    if _working_step(initiative) not in _STEPS_TEAMS_MAY_MOVE:
        return False
    return may_edit(user, initiative)


# --- what a refusal says: the role or RACI position that is needed --------------------------

#: who may edit an initiative, its records, actions, KPIs and measurements
EDITORS = (
    "its accountable owner (A) or a responsible person (R) in the Improvement team, the "
    "owner of its service or practice, or a CSI manager"
)
NEED_EDIT = f"Only {EDITORS} may change this initiative."
NEED_CSI = "Only a CSI manager may do this."
NEED_REBASELINE = "Only a CSI manager may re-baseline a KPI after step 3."
NEED_CONTRIBUTOR = (
    "Only the Improvement team, Service owners, Process owners, ITSM integrations and CSI "
    "managers may propose initiatives."
)
NEED_VIEW = "Only users with a CIR role (Viewer or above) may read the register."
NEED_FEED = (
    f"Only {EDITORS}, an ITSM integration or a CSI manager may record measurements for this KPI."
)


def move_denial(permission, initiative: Initiative, user) -> str:
    """Why `user` may not make a move guarded by the django-fsm `permission` function."""
    if permission in (may_decide_intake, may_end):
        return "Only a CSI manager may accept, reject, cancel or close an initiative."
    if initiative.is_final:
        return "Only a CSI manager may change an initiative that has ended."
    if _working_step(initiative) not in _STEPS_TEAMS_MAY_MOVE:
        return "Only a CSI manager may move an initiative that is not yet accepted."
    return f"Only {EDITORS} may move this initiative."


def edit_denial(initiative: Initiative) -> str:
    """Why someone may not change this initiative: who may, in words."""
    if initiative.is_final:
        return "Only a CSI manager may change an initiative that has ended."
    return NEED_EDIT


def may_rebaseline(user) -> bool:
    """Change a KPI's locked baseline or target (with a reason): CSI managers."""
    return is_csi_manager(user)


def _working_step(initiative: Initiative) -> str:
    # workflow.working_step, without importing the workflow (which imports this module)
    return initiative.held_from if initiative.step == Step.ON_HOLD else initiative.step


def may_be_accountable(user) -> bool:
    """Whether `user` can own an initiative: someone who may edit initiatives (a contributor
    role or a CSI manager), active."""
    return user is not None and user.is_active and (is_csi_manager(user) or may_contribute(user))


def may_grant_permissions(user) -> bool:
    """Make someone a superuser, or hand out model permissions one by one (a user's or a
    role group's): superusers only. CSI managers give roles (groups), not raw permissions."""
    return user is not None and user.is_active and user.is_superuser


def may_administer_user(user, target) -> bool:
    """Change or delete the account `target` in the admin: a superuser's account only by a
    superuser, so no one edits their way to a superuser's rights (or password)."""
    return target is None or not target.is_superuser or may_grant_permissions(user)


def may_use_admin(user) -> bool:
    """Open the admin console: staff, but never the ITSM integration account (API only)
    unless it is a superuser."""
    if user is None or not user.is_active or not user.is_staff:
        return False
    return user.is_superuser or not is_integration(user)


# --- benefits (SPEC §10) --------------------------------------------------------------------


def may_edit_benefits(user, initiative: Initiative) -> bool:
    """Add, change or remove the expected benefits: whoever may edit the initiative."""
    return may_edit(user, initiative)


def may_realise_benefits(user, initiative: Initiative) -> bool:
    """Record what a benefit realised: at the review (step 6), while sustaining (step 7)
    and at or after closing (the gains come in after the close), by the initiative's
    editors — after closing too, like measurements — and CSI managers."""
    from .choices import REALISATION_STEPS

    if initiative.step not in REALISATION_STEPS:
        return False
    return is_csi_manager(user) or _contributes_to(user, initiative)


NEED_REALISE = (
    f"Only {EDITORS} may record a realised benefit, at the review (step 6), while "
    "sustaining (step 7) or once closed."
)


# --- ITSM records and opportunities (SPEC §9) ------------------------------------------------


def may_import_itsm(user) -> bool:
    """Import or push ITSM records: CSI managers and ITSM integrations."""
    return is_csi_manager(user) or is_integration(user)


def may_promote(user) -> bool:
    """Turn an opportunity into a proposed initiative with a derived KPI: CSI managers."""
    return is_csi_manager(user)
