from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from claims import probes
from claims.team_forms import SignInForm

urlpatterns = [
    path("healthz", probes.healthz, name="healthz"),
    path("metrics", probes.prometheus_metrics, name="metrics"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=SignInForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("team/", include("claims.team_urls")),
    path("audit/", include("claims.audit_urls")),
    path("reports/", include("claims.report_urls")),
    path("me/", include("claims.preference_urls")),
    path("", include("claims.urls")),
]
