"""What ``grant_role`` and ``revoke_role`` share: arguments, the user lookup, the messages."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts import roles
from staff import selectors, services


class RoleCommand(BaseCommand):
    grant: bool

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="the user's sign-in name (exact)")
        parser.add_argument("role", help=f"one of: {', '.join(roles.GRANTABLE_ROLES)}")

    def handle(self, *args, username: str, role: str, **options) -> None:
        user = selectors.user_by_username(username=username)
        if user is None:
            raise CommandError(f"No user named {username!r}: nothing changed. Create one with manage.py create_user.")
        change = services.grant_role if self.grant else services.revoke_role
        try:
            changed = change(user=user, role=role)
        except services.UnknownRole as error:
            raise CommandError(f"{error} Nothing changed.") from error
        if changed:
            verb = "Granted" if self.grant else "Revoked"
            self.stdout.write(
                f"{verb} {role} {'to' if self.grant else 'from'} {username}; recorded in the audit trail. "
                f"Roles now: {', '.join(roles.held_roles(user)) or 'none'}."
            )
        else:
            state = "already holds" if self.grant else "does not hold"
            self.stdout.write(f"{username} {state} {role}: nothing changed.")
