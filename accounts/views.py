"""The sign-in page: Django's, minus the redirection loop."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth import views as auth_views
from django.urls import reverse


class LoginView(auth_views.LoginView):
    """Django's ``LoginView``; a ``next`` pointing back at the login page goes to the landing page.

    With ``redirect_authenticated_user`` Django raises ``ValueError``
    ("Redirection loop") for a signed-in user whose ``next`` is the login
    page itself, which a stale link or bookmark produces; that was a 500.
    """

    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        url = super().get_redirect_url()
        if url and urlsplit(url).path == self.request.path:
            return reverse("home")
        return url
