"""The app's URLs plus the benchmark's reference endpoint (never mounted in the product)."""

from django.db.models import F
from django.http import JsonResponse
from django.urls import include, path

from improvement.models import Initiative

FIELDS = ("id", "reference", "title", "description", "source", "external_system", "external_id",
          "step", "health", "priority", "score", "value", "effort", "urgency", "iteration",
          "due_date", "created_at", "updated_at")  # fmt: skip


def initiatives_values(request):
    """The limit: the same page of rows straight from .values() to JSON, with its count."""
    limit = int(request.GET.get("limit", 50))
    offset = int(request.GET.get("offset", 0))
    queryset = Initiative.objects.order_by("-created_at")
    rows = list(
        queryset.values(*FIELDS, accountable_username=F("accountable__username"))[
            offset : offset + limit
        ]
    )
    return JsonResponse({"count": queryset.count(), "results": rows})


urlpatterns = [
    path("bench/initiatives-values/", initiatives_values),
    path("", include("cir.urls")),
]
