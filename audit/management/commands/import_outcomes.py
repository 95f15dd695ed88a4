"""python manage.py import_outcomes FILE.csv --user USERNAME

Records loan outcomes (``application_id,outcome,outcome_date``) in the
outcome chain, all rows or none, as the named admin (who must hold the
record-outcome right). Same rules as the import page.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.services import import_outcomes_csv


class Command(BaseCommand):
    help = "Record loan outcomes from a CSV (application_id,outcome,outcome_date), all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="the admin recording them")

    def handle(self, *args, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {options['user']!r}.") from None
        try:
            text = options["file"].read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {options['file']}: {error}") from None
        try:
            result = import_outcomes_csv(text=text, recorded_by=user, source="command")
        except PermissionDenied as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("\n".join(error.messages)) from None
        self.stdout.write(f"recorded {result.recorded} outcome(s); {result.unchanged} already recorded as given")
