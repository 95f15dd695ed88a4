from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who is signed in and what they may do: roles, sessions, sign-in backends, demo accounts."""

    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts import sessions

        # Django's login() is the one place a session starts (the login page,
        # the admin, force_login); it announces it with this signal, so the
        # session clocks are started there rather than in every caller.
        user_logged_in.connect(sessions.stamp_login, dispatch_uid="accounts.sessions.stamp_login")
