"""``manage.py create_user USERNAME --role ROLE``: a new staff account holding one role.

The password is never a command-line argument (it would stay in the shell's
history and in ``ps``): it is typed twice at a no-echo prompt, or generated
with ``--generate-password`` and printed once for the operator to hand over.
Either way Django's password validators (settings) must accept it.
"""

from __future__ import annotations

import getpass
import secrets
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import roles
from staff import selectors, services

PROMPT_ATTEMPTS = 3


class Command(BaseCommand):
    stealth_options = ("stdin",)  # tests hand in a terminal, as for Django's createsuperuser
    help = (
        "Create a user holding a role. The password is prompted twice (not echoed) or, with "
        "--generate-password, generated and printed once; it is never taken from the command line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="the new user's sign-in name")
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(roles.GRANTABLE_ROLES)}")
        parser.add_argument("--email", default="", help="optional e-mail address")
        parser.add_argument(
            "--generate-password",
            action="store_true",
            help="generate a strong password and print it once instead of prompting",
        )

    def handle(self, *args, username: str, role: str, email: str, generate_password: bool, **options) -> None:
        if role not in roles.GRANTABLE_ROLES:
            raise CommandError(f"{services.UnknownRole(role)} Nothing created.")
        if selectors.user_by_username(username=username) is not None:
            raise CommandError(f"A user named {username!r} exists already: use grant_role to give them a role.")
        try:
            services.validate_new_username(username=username, email=email)
        except ValidationError as error:
            raise CommandError("Nothing created: " + " ".join(error.messages)) from error
        if generate_password:
            password = secrets.token_urlsafe(18)
            self._create(username=username, password=password, role=role, email=email)
            self.stdout.write(f"Created {username} with role {role}; recorded in the audit trail.")
            self.stdout.write(f"Password (shown once, hand it over privately): {password}")
            return
        stdin = options.get("stdin", sys.stdin)
        if not (hasattr(stdin, "isatty") and stdin.isatty()):
            raise CommandError(
                "No terminal to prompt for the password: run it interactively or use --generate-password."
            )
        for _ in range(PROMPT_ATTEMPTS):
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("The two passwords differ; try again.")
                continue
            try:
                services.validate_new_password(password=password, username=username, email=email)
            except ValidationError as error:
                self.stderr.write("\n".join(error.messages))
                continue
            self._create(username=username, password=password, role=role, email=email)
            self.stdout.write(f"Created {username} with role {role}; recorded in the audit trail.")
            return
        raise CommandError(f"No acceptable password after {PROMPT_ATTEMPTS} attempts: nothing created.")

    def _create(self, **account: str) -> None:
        try:
            services.create_user(**account)
        except ValidationError as error:
            raise CommandError("Nothing created: " + " ".join(error.messages)) from error
