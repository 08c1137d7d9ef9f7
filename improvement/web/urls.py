"""Browser UI URLs: the register, proposing, initiative pages, portfolio and goals."""

from django.urls import path

from . import (
    benefits,
    comments,
    hygiene,
    initiative,
    mywork,
    notifications,
    opportunities,
    overview,
    register,
    reports,
    spreadsheets,
)

app_name = "improvement"

page = "initiatives/<str:reference>/"

urlpatterns = [
    path("", mywork.MyWorkView.as_view(), name="my-work"),
    path("register/", register.RegisterView.as_view(), name="register"),
    path("export.csv", register.RegisterExportView.as_view(), name="register-export"),
    path(
        "export.xlsx",
        register.RegisterExportView.as_view(format="xlsx"),
        name="register-export-xlsx",
    ),
    path("import/", spreadsheets.RegisterImportView.as_view(), name="register-import"),
    path("propose/", register.ProposeView.as_view(), name="propose"),
    path("propose/duplicates/", hygiene.ProposeDuplicatesView.as_view(), name="propose-duplicates"),
    path("portfolio/", overview.PortfolioView.as_view(), name="portfolio"),
    path(
        "portfolio/export.<str:format>",
        spreadsheets.PortfolioExportView.as_view(),
        name="portfolio-export",
    ),
    path("portfolio/report/", reports.PortfolioReportView.as_view(), name="portfolio-report"),
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
    path(f"{page}kpis/<int:pk>/data/", spreadsheets.KPIDataView.as_view(), name="kpi-data"),
    path(
        f"{page}kpis/<int:pk>/data/<int:mid>/",
        spreadsheets.MeasurementEditView.as_view(),
        name="measurement-edit",
    ),
    path(
        f"{page}kpis/<int:pk>/<str:table>.<str:format>",
        spreadsheets.KPIExportView.as_view(),
        name="kpi-export",
    ),
    path(f"{page}reviews/", initiative.ReviewCreateView.as_view(), name="review-create"),
    # reports, PDCA and benefits
    path(f"{page}report/", reports.InitiativeReportView.as_view(), name="initiative-report"),
    path(f"{page}benefits/", benefits.BenefitCreateView.as_view(), name="benefit-create"),
    path(f"{page}benefits/<int:pk>/", benefits.BenefitUpdateView.as_view(), name="benefit-update"),
    path(
        f"{page}benefits/<int:pk>/delete/",
        benefits.BenefitDeleteView.as_view(),
        name="benefit-delete",
    ),
    path(
        f"{page}benefits/<int:pk>/realisations/",
        benefits.BenefitRealiseView.as_view(),
        name="benefit-realise",
    ),
    path(f"{page}comments/", comments.CommentCreateView.as_view(), name="comment-create"),
    path(f"{page}comments/<int:pk>/", comments.CommentUpdateView.as_view(), name="comment-update"),
    path(
        f"{page}comments/<int:pk>/delete/",
        comments.CommentDeleteView.as_view(),
        name="comment-delete",
    ),
    path(f"{page}duplicate/", hygiene.CloseAsDuplicateView.as_view(), name="close-duplicate"),
    # --- notifications ---
    path(f"{page}watch/", notifications.WatchView.as_view(), name="initiative-watch"),
    path("notifications/", notifications.InboxView.as_view(), name="notifications"),
    path("notifications/read/", notifications.MarkReadView.as_view(), name="notifications-read"),
    path(
        "notifications/<int:pk>/read/",
        notifications.MarkReadView.as_view(),
        name="notification-read",
    ),
    path(
        "notifications/unsubscribe/<str:token>/",
        notifications.UnsubscribeView.as_view(),
        name="notifications-unsubscribe",
    ),
    path(
        "settings/notifications/",
        notifications.NotificationSettingsView.as_view(),
        name="notification-settings",
    ),
]
