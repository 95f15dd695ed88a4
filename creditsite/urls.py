"""URL map. Every page except login needs a signed-in user (see each view)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as account_views
from applications import views as application_views
from monitoring import views as monitoring_views
from operations import health

urlpatterns = [
    path("", application_views.home, name="home"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    # Django 5 logs out on POST only, so a link (or a prefetch) cannot sign anyone out.
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("applications/", include("applications.urls")),
    path("batches/", include("batches.urls")),
    # The REST API (/api/v1/...), its OpenAPI schema (/api/schema/) and docs page (/api/docs/).
    path("api/", include("api.urls")),
    # Review workflow: the queue, a case's page, claim and release.
    path("reviews/", include("reviews.urls")),
    # Audit trail: /audit/, /audit/decisions.csv, /audit/access/.
    path("", include("audit.urls")),
    # Portfolio monitoring: /monitoring/, drift, outcomes (back-test, import), fairness, their CSVs.
    path("monitoring/", include("monitoring.urls")),
    # Model governance: /governance/models/ (registry), /governance/cutoffs/ (simulator), four-eyes actions.
    path("governance/", include("governance.urls")),
    # Champion against challenger: governance's shadow scores, compared and back-tested by monitoring.
    path("governance/challenger/", monitoring_views.challenger_page, name="challenger_comparison"),
    path("admin/", admin.site.urls),
    # Load-balancer probe: no login, no session, exempt from the HTTPS redirect.
    # Unnamed on purpose: it is a fixed address for balancers, not a page to link.
    path("healthz", health.healthz),
]

# A database fault raised outside a view (e.g. loading the session) is shown
# as the 503 page; anything else as 500.html.
handler500 = "operations.faults.server_error"
