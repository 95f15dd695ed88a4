"""``manage.py grant_role USERNAME ROLE``: give a user a role, recorded in the audit trail."""

from accounts import roles
from staff.management.role_command import RoleCommand


class Command(RoleCommand):
    help = f"Grant a role ({', '.join(roles.GRANTABLE_ROLES)}) to a user. Granting a role already held changes nothing."
    grant = True
