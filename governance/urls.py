from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("models/", views.registry_page, name="registry"),
    path("models/propose/", views.propose_activation, name="propose_activation"),
    path("models/challenger/", views.propose_challenger, name="propose_challenger"),
    path("models/challenger/remove/", views.propose_challenger_removal, name="propose_challenger_removal"),
    path("cutoffs/", views.simulator_page, name="simulator"),
    path("proposals/<int:proposal_id>/approve/", views.decide, {"verdict": "approve"}, name="approve"),
    path("proposals/<int:proposal_id>/reject/", views.decide, {"verdict": "reject"}, name="reject"),
    path("proposals/<int:proposal_id>/withdraw/", views.decide, {"verdict": "withdraw"}, name="withdraw"),
]
