"""Celery tasks: thin wrappers that load fresh rows by id and call services.

Split by concern: KPI checks in kpis.py, webhook delivery in webhooks.py,
notification emails, reminders and the digest in notifications.py, ITSM imports in
itsm.py.
"""

from .hygiene import *  # noqa: F403
from .itsm import *  # noqa: F403
from .kpis import *  # noqa: F403
from .notifications import *  # noqa: F403
from .webhooks import *  # noqa: F403
