from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.audit_home, name="home"),
    path("audit/verify/", views.start_verification, name="start_verification"),
    path("audit/decisions.csv", views.decisions_csv, name="decisions_csv"),
    path("audit/access/", views.access_log, name="access_log"),
]
