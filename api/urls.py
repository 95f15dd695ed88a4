from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import views

app_name = "api"

urlpatterns = [
    path("v1/applications/", views.ApplicationListCreate.as_view(), name="application-list"),
    path("v1/applications/<int:pk>/", views.ApplicationDetail.as_view(), name="application-detail"),
    path("v1/applications/<int:pk>/claim/", views.CaseClaim.as_view(), name="case-claim"),
    path("v1/applications/<int:pk>/release/", views.CaseRelease.as_view(), name="case-release"),
    path("v1/applications/<int:pk>/decide/", views.CaseDecide.as_view(), name="case-decide"),
    path("v1/applications/<int:pk>/second-approval/", views.CaseSecondApproval.as_view(), name="case-second-approval"),
    path("v1/batches/", views.BatchCreate.as_view(), name="batch-list"),
    path("v1/batches/<int:pk>/", views.BatchDetail.as_view(), name="batch-detail"),
    path("v1/batches/<int:pk>/cancel/", views.BatchCancel.as_view(), name="batch-cancel"),
    path("v1/batches/<int:pk>/results.csv", views.BatchResults.as_view(), name="batch-results"),
    # The OpenAPI 3 schema, and Swagger UI from our own static files (drf-spectacular-sidecar):
    # the split view serves its start-up script as a file, so the CSP needs no inline script.
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
