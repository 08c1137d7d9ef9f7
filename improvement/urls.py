"""Browser UI URLs: the register, proposing, initiative pages, portfolio and goals."""

from django.urls import path

from . import views

app_name = "improvement"

initiative = "initiatives/<str:reference>/"

urlpatterns = [
    path("", views.RegisterView.as_view(), name="register"),
    path("export.csv", views.RegisterExportView.as_view(), name="register-export"),
    path("propose/", views.ProposeView.as_view(), name="propose"),
    path("portfolio/", views.PortfolioView.as_view(), name="portfolio"),
    path("goals/", views.GoalsView.as_view(), name="goals"),
    path(initiative, views.InitiativeView.as_view(), name="initiative"),
    path(f"{initiative}details/", views.DetailsUpdateView.as_view(), name="initiative-details"),
    path(f"{initiative}move/", views.MoveView.as_view(), name="initiative-move"),
    path(
        f"{initiative}records/<str:record>/",
        views.RecordUpdateView.as_view(),
        name="record-update",
    ),
    path(f"{initiative}actions/", views.ActionCreateView.as_view(), name="action-create"),
    path(f"{initiative}actions/<int:pk>/", views.ActionUpdateView.as_view(), name="action-update"),
    path(f"{initiative}kpis/", views.KPICreateView.as_view(), name="kpi-create"),
    path(f"{initiative}kpis/<int:pk>/", views.KPIUpdateView.as_view(), name="kpi-update"),
    path(f"{initiative}kpis/<int:pk>/delete/", views.KPIDeleteView.as_view(), name="kpi-delete"),
    path(
        f"{initiative}kpis/<int:pk>/measurements/",
        views.MeasurementCreateView.as_view(),
        name="measurement-create",
    ),
    path(f"{initiative}reviews/", views.ReviewCreateView.as_view(), name="review-create"),
]
