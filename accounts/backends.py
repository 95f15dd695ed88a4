"""Authentication backend: Django's ModelBackend minus demo accounts in production.

``user_can_authenticate`` is consulted both at sign-in and for every request
of an existing session (``get_user``), so turning ``DEBUG`` off also ends a
demo session that was already open.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import router

from accounts.demo import demo_accounts_allowed, is_demo_account
from infrastructure.rows import row_lookup


class ProductionModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        """The session's user, as ``ModelBackend.get_user``, with the SELECT compiled once.

        This runs on every signed-in request; see ``infrastructure.rows``.
        """
        user_model = get_user_model()
        user = row_lookup(user_model, "pk").get(user_id, using=router.db_for_read(user_model))
        return user if user is not None and self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: Any) -> bool:
        if is_demo_account(user) and not demo_accounts_allowed():
            return False
        return super().user_can_authenticate(user)


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for sign-ins that come with an HTTP request.

    Axes raises when ``authenticate()`` is called without a request (shell,
    management commands, tests): there is no client address to throttle.
    Those callers are not reachable from the network, so here they simply
    pass through to the model backend. Every web sign-in (the login page,
    the admin) passes its request and is throttled; a future API view must
    pass ``request=`` to ``authenticate()`` too.
    """

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
