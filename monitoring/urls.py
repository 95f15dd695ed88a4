from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("drift/", views.drift_page, name="drift"),
    path("outcomes/", views.outcomes_page, name="outcomes"),
    path("outcomes/import/", views.outcomes_import, name="outcomes_import"),
    path("fairness/", views.fairness_page, name="fairness"),
    path("<slug:name>.csv", views.chart_csv, name="csv"),
]
