"""python manage.py propose_model --model VERSION --user ADMIN [--challenger | --remove-challenger] [--note TEXT]

Proposes, as the named admin, activating a model version (or rolling back
to one), making it the challenger, or removing the challenger: the same
services and rules as the model registry page. Nothing serves differently
until another admin approves the proposal in the registry
(``/governance/models/``). This is how a model trained with ``train_model``
is put forward from the shell.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from governance import services


class Command(BaseCommand):
    help = "Propose a model activation, a challenger or its removal; another admin approves it in the registry."

    def add_arguments(self, parser):
        parser.add_argument("--model", dest="model_version", default="", help="the model version")
        parser.add_argument("--user", required=True, help="the admin proposing it")
        parser.add_argument("--note", default="", help="why (for the approver and the record)")
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--challenger", action="store_true", help="propose it as the challenger (shadow only)")
        kind.add_argument("--remove-challenger", action="store_true", help="propose removing the challenger")

    def handle(self, *args, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {options['user']!r}.") from None
        version, note = options["model_version"], options["note"]
        if not version and not options["remove_challenger"]:
            raise CommandError("Name the model version with --model.")
        try:
            if options["remove_challenger"]:
                proposal = services.propose_challenger_removal(proposer=user, note=note)
            elif options["challenger"]:
                proposal = services.propose_challenger(proposer=user, model_version=version, note=note)
            else:
                proposal = services.propose_model_activation(proposer=user, model_version=version, note=note)
        except PermissionDenied as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(
            f"proposal #{proposal.pk}: {proposal.get_kind_display().lower()} {proposal.model_version}. "
            "Another admin must approve it in the model registry (/governance/models/) before it applies."
        )
