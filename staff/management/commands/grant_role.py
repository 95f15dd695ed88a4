"""``manage.py grant_role USERNAME ROLE``: give a user a role, recorded in the audit trail."""

from staff.management.role_command import RoleCommand


class Command(RoleCommand):
    help = "Grant a role (officer, reviewer, auditor, admin, superuser) to a user. Granting a role already held changes nothing."
    grant = True
