"""``manage.py create_demo_officer``: a local login for ``make run`` (DEBUG only)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import roles
from staff import services


class Command(BaseCommand):
    help = "Create or update a demo officer with a fresh password, printed once. Development only."

    def handle(self, *args, **options) -> None:
        # Only the names in DEMO_ACCOUNT_USERNAMES: those are the accounts the
        # production guards (operations.E001, the auth backend) refuse.
        username = settings.DEMO_ACCOUNT_USERNAMES[0]
        if not settings.DEBUG:
            # A printed password on a production server is a published password.
            raise CommandError("create_demo_officer is for development only: refusing because DEBUG is off.")
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=username)
            user.set_password(password)
            user.is_active = True
            user.save()
            # Through the service like every grant: recorded once, on creation (later runs hold it already).
            services.grant_role(user=user, role=roles.OFFICER)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} demo officer login -> username: {username}  password: {password}")
