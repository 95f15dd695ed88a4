"""``manage.py create_demo_officer``: a printed login for development only."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts import roles
from audit.models import RoleChangeRecord

pytestmark = pytest.mark.django_db


def _run(**kwargs) -> str:
    out = io.StringIO()
    call_command("create_demo_officer", stdout=out, **kwargs)
    return out.getvalue()


def test_creates_an_officer_whose_printed_password_works(settings):
    settings.DEBUG = True
    output = _run()
    password = re.search(r"password: (\S+)", output).group(1)
    user = get_user_model().objects.get(username="demo-officer")
    assert user.check_password(password)
    assert roles.role_of(user) == roles.OFFICER
    assert not user.is_staff and not user.is_superuser


def test_running_again_updates_the_same_user_with_a_new_password(settings):
    settings.DEBUG = True
    first = re.search(r"password: (\S+)", _run()).group(1)
    second_output = _run()
    second = re.search(r"password: (\S+)", second_output).group(1)
    assert "Updated" in second_output and first != second
    assert get_user_model().objects.filter(username="demo-officer").count() == 1
    user = get_user_model().objects.get(username="demo-officer")
    assert not user.check_password(first)
    assert user.check_password(second)
    # The grant is recorded once, when the account is made; the second run finds the role held.
    record = RoleChangeRecord.objects.get()
    assert (record.user, record.action, record.role, record.channel) == (user, "grant", "officer", "command")


def test_refuses_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="development only"):
        _run()
    assert not get_user_model().objects.filter(username="demo-officer").exists()


@pytest.mark.slow
def test_refusal_exits_non_zero_from_the_command_line(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "create_demo_officer"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "development only" in result.stderr
