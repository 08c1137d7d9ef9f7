"""REST API URLs under /api/v1/."""

from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from . import views
from .errors import endpoint_not_found
from .views.notifications import NotificationViewSet, PreferencesView, WatchView

app_name = "api"

router = DefaultRouter()
router.register("initiatives", views.InitiativeViewSet, basename="initiative")
router.register("actions", views.ActionViewSet, basename="action")
router.register("benefits", views.BenefitViewSet, basename="benefit")
router.register("goals", views.GoalViewSet, basename="goal")
router.register("kpis", views.KPIViewSet, basename="kpi")
router.register("measurements", views.MeasurementViewSet, basename="measurement")
router.register("webhooks", views.WebhookViewSet, basename="webhook")
router.register("users", views.UserViewSet, basename="user")
router.register("itsm-records", views.ITSMRecordViewSet, basename="itsm-record")
router.register("opportunities", views.OpportunityViewSet, basename="opportunity")
router.register(
    r"initiatives/(?P<initiative_pk>\d+)/comments", views.CommentViewSet, basename="comment"
)
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("me/work/", views.MyWorkView.as_view(), name="me-work"),
    path("me/preferences/", PreferencesView.as_view(), name="me-preferences"),
    path("initiatives/<int:pk>/watch/", WatchView.as_view(), name="initiative-watch"),
    *router.urls,
    # anything else under /api/v1/ is a JSON 404 in the one error shape (not an HTML page,
    # and not Django's slash redirect, which cannot keep a POST body)
    re_path(r"^.*$", endpoint_not_found),
]
