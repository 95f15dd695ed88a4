from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_upload, name="upload"),
    path("<int:pk>/", views.batch_detail, name="detail"),
    path("<int:pk>/progress.json", views.batch_progress, name="progress"),
    path("<int:pk>/cancel/", views.batch_cancel, name="cancel"),
    path("<int:pk>/results.csv", views.batch_results, name="results"),
]
