from django.urls import path

from applications import views

app_name = "applications"

urlpatterns = [
    path("", views.application_list, name="list"),
    path("new/", views.application_new, name="new"),
    path("export.csv", views.application_export, name="export"),
    path("what-if/", views.application_what_if, name="what_if"),
    path("<int:pk>/", views.application_detail, name="detail"),
    path("<int:pk>/override/", views.application_override, name="override"),
    path("<int:pk>/counter-offer/", views.application_counter_offer, name="counter_offer"),
    path("<int:pk>/notice/", views.application_notice, name="notice"),
    path("<int:pk>/notice.pdf", views.application_notice_pdf, name="notice_pdf"),
]
