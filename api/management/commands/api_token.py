"""``manage.py api_token create|revoke|list``: an admin manages users' API tokens from the command line."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from api.models import ApiToken
from api.services import create_api_token, revoke_api_token


class Command(BaseCommand):
    help = "Create (shown once), revoke or list API tokens, acting as an admin user (--as)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--as", dest="admin", required=True, help="The admin's username (recorded as creator/revoker)."
        )
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("--user", required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--days", type=int, default=90)
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix", help="The token's prefix (the 12 characters after scr_).")
        listing = sub.add_parser("list")
        listing.add_argument("--user")

    def handle(self, *args, admin: str, action: str, **options) -> None:
        users = get_user_model().objects
        try:
            acting = users.get(username=admin)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {admin!r}.") from None
        try:
            if action == "create":
                try:
                    user = users.get(username=options["user"])
                except get_user_model().DoesNotExist:
                    raise CommandError(f"No user {options['user']!r}.") from None
                token, clear = create_api_token(
                    user=user, name=options["name"], days=options["days"], created_by=acting
                )
                self.stdout.write(
                    f"Token for {user.get_username()}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC (shown once):"
                )
                self.stdout.write(clear)
            elif action == "revoke":
                token = ApiToken.objects.filter(prefix=options["prefix"]).first()
                if token is None:
                    raise CommandError(f"No token with prefix {options['prefix']!r}.")
                revoke_api_token(token=token, revoked_by=acting)
                self.stdout.write(f"Revoked {token}.")
            else:
                tokens = ApiToken.objects.select_related("user")
                if options.get("user"):
                    tokens = tokens.filter(user__username=options["user"])
                for token in tokens:
                    state = "revoked" if token.is_revoked else "expired" if token.is_expired else "active"
                    self.stdout.write(f"scr_{token.prefix}_…  {token.user.get_username():<20} {state:<8} {token.name}")
        except (PermissionDenied, ValueError) as error:
            raise CommandError(str(error)) from None
