"""``manage.py backup [--output DIR]``: a consistent, timestamped database backup.

Prints the file's path and SHA-256 (keep the hash with the copy: it proves
later that the file restored is the file written). Restore drill: see
docs/deploy-checks.md and tests/operations/test_backup.py.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from operations.backup import BackupError, make_backup


class Command(BaseCommand):
    help = "Back up the database online (SQLite backup API or pg_dump) and print the file's path and SHA-256."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--output",
            default=str(Path(settings.BASE_DIR) / "backups"),
            help="directory for the backup file (default: ./backups)",
        )
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, output: str, database: str, **options) -> None:
        try:
            result = make_backup(output_dir=Path(output), alias=database)
        except (BackupError, OSError) as error:
            raise CommandError(f"backup failed: {error}") from None
        self.stdout.write(f"{result.path}")
        self.stdout.write(f"sha256 {result.sha256}  size {result.size} bytes  ({result.vendor})")
