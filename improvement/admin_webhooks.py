"""The old import path of the webhook admin, which lives in improvement/admin/webhooks.py.

Importing it registers nothing new: `improvement.admin` registers every model admin.
"""

from .admin.webhooks import WebhookAdmin, WebhookDeliveryAdmin

__all__ = ["WebhookAdmin", "WebhookDeliveryAdmin"]
