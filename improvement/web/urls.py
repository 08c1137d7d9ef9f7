"""Browser UI URLs: the register, proposing, initiative pages, portfolio and goals."""

from django.urls import path

from . import initiative, opportunities, overview, register

app_name = "improvement"

page = "initiatives/<str:reference>/"

urlpatterns = [
    path("", register.RegisterView.as_view(), name="register"),
    path("export.csv", register.RegisterExportView.as_view(), name="register-export"),
    path("propose/", register.ProposeView.as_view(), name="propose"),
    path("portfolio/", overview.PortfolioView.as_view(), name="portfolio"),
    path("goals/", overview.GoalsView.as_view(), name="goals"),
    path("opportunities/", opportunities.OpportunitiesView.as_view(), name="opportunities"),
    path("opportunities/promote/", opportunities.PromoteView.as_view(), name="promote"),
    path("opportunities/import/", opportunities.ImportView.as_view(), name="itsm-import-new"),
    path(
        "opportunities/import/<int:pk>/",
        opportunities.ImportStatusView.as_view(),
        name="itsm-import",
    ),
    path(page, initiative.InitiativeView.as_view(), name="initiative"),
    path(f"{page}details/", initiative.DetailsUpdateView.as_view(), name="initiative-details"),
    path(f"{page}move/", initiative.MoveView.as_view(), name="initiative-move"),
    path(
        f"{page}records/<str:record>/",
        initiative.RecordUpdateView.as_view(),
        name="record-update",
    ),
    path(f"{page}actions/", initiative.ActionCreateView.as_view(), name="action-create"),
    path(f"{page}actions/<int:pk>/", initiative.ActionUpdateView.as_view(), name="action-update"),
    path(f"{page}kpis/", initiative.KPICreateView.as_view(), name="kpi-create"),
    path(f"{page}kpis/<int:pk>/", initiative.KPIUpdateView.as_view(), name="kpi-update"),
    path(f"{page}kpis/<int:pk>/delete/", initiative.KPIDeleteView.as_view(), name="kpi-delete"),
    path(
        f"{page}kpis/<int:pk>/rebaseline/",
        initiative.KPIRebaselineView.as_view(),
        name="kpi-rebaseline",
    ),
    path(
        f"{page}kpis/<int:pk>/measurements/",
        initiative.MeasurementCreateView.as_view(),
        name="measurement-create",
    ),
    path(f"{page}reviews/", initiative.ReviewCreateView.as_view(), name="review-create"),
]
