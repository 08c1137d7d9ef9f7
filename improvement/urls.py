"""Browser UI URLs (the register, initiative pages, portfolio, goals)."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "improvement"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="register"),
]
