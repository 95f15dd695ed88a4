"""``manage.py revoke_role USERNAME ROLE``: take a role from a user, recorded in the audit trail."""

from staff.management.role_command import RoleCommand


class Command(RoleCommand):
    help = "Revoke a role from a user. Revoking a role not held changes nothing."
    grant = False
