"""The admin console for CSI managers (SPEC §5): triage, records, bulk work.

The admin holds no business rules of its own. Every write goes through
`improvement.services` (STYLE rule 1): `save_model` / `save_formset` hand the cleaned form
values to the service of the entity, and a domain error (Forbidden, InvalidInput,
Conflict, TransitionBlocked) comes back as a page message, with nothing saved.

One module per model family, each registering its model admins on import:

- base.py: the shared mixins (service-calling saves, domain errors as messages, the CSI
  manager's rights, read-only and history bases)
- initiatives.py: the initiative with its inlines (inlines.py), its workflow panel and
  transition page (moves.py), and bulk triage
- records.py: step records, actions, reviews, KPIs (with their revisions and the re-baseline
  page of rebaseline.py), measurements and checks on their own pages
- system.py: goals, services, practices, the transition log, events and the counter
- webhooks.py: webhook receivers and deliveries
- spreadsheets.py: the register import's saved column mappings (to read)
- people.py: comments with their history
- itsm.py: ITSM records, their imports, derived KPIs' derivations (to read)
- benefits.py: what benefits realised, to read (CSI managers)
- notifications.py: notifications and preferences, to read (CSI managers only)
"""

from django.contrib import admin

from . import (
    benefits,
    initiatives,
    itsm,
    notifications,
    people,
    records,
    spreadsheets,
    system,
    webhooks,
)

admin.site.site_header = "CIR — Continual Improvement Register"
admin.site.site_title = "CIR admin"
admin.site.index_title = "CSI management console"

__all__ = [
    "benefits",
    "initiatives",
    "itsm",
    "notifications",
    "people",
    "records",
    "spreadsheets",
    "system",
    "webhooks",
]
