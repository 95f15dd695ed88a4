"""``grant_role``, ``revoke_role`` and ``create_user``: what changes, what is recorded, what is refused."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts import roles
from audit.models import AccessEvent, RoleChangeRecord
from staff.management.commands import create_user as create_user_command
from tests.support.audit import run_verify
from tests.support.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_grant_role_adds_the_group_and_records_it_in_the_chain_and_the_access_log():
    user = UserFactory(role=roles.OFFICER, username="rita")
    out = run("grant_role", "rita", roles.REVIEWER)
    assert "Granted reviewer to rita" in out and "officer, reviewer" in out
    assert group_names(user) == {roles.OFFICER, roles.REVIEWER}
    record = RoleChangeRecord.objects.get()
    assert (record.user, record.action, record.role, record.actor, record.channel) == (
        user,
        RoleChangeRecord.GRANT,
        roles.REVIEWER,
        None,
        RoleChangeRecord.COMMAND,
    )
    assert record.actor_name.startswith("shell:") and record.sequence == 1
    assert record.document["username"] == "rita" and record.document["kind"] == "role_change"
    event = AccessEvent.objects.get(action=AccessEvent.ROLE_GRANTED)
    assert event.target == "reviewer to rita" and event.username == record.actor_name
    code, out, summary = run_verify()
    assert code == 0, out
    assert summary["role_changes_checked"] == 1 and summary["role_changes_chain_ok"] is True


def test_granting_a_role_already_held_changes_and_records_nothing():
    UserFactory(role=roles.REVIEWER, username="rex")
    out = run("grant_role", "rex", roles.REVIEWER)
    assert out.strip() == "rex already holds reviewer: nothing changed."
    assert not RoleChangeRecord.objects.exists()
    assert not AccessEvent.objects.filter(action=AccessEvent.ROLE_GRANTED).exists()


def test_revoke_role_removes_the_group_and_is_recorded():
    user = UserFactory(role=roles.AUDITOR, username="ada")
    out = run("revoke_role", "ada", roles.AUDITOR)
    assert "Revoked auditor from ada" in out and "Roles now: none" in out
    assert group_names(user) == set()
    record = RoleChangeRecord.objects.get()
    assert (record.action, record.role) == (RoleChangeRecord.REVOKE, roles.AUDITOR)
    assert AccessEvent.objects.get(action=AccessEvent.ROLE_REVOKED).target == "auditor from ada"
    assert run("revoke_role", "ada", roles.AUDITOR).strip() == "ada does not hold auditor: nothing changed."
    assert RoleChangeRecord.objects.count() == 1


def test_grants_and_revocations_form_one_chain_that_verifies():
    UserFactory(role=None, username="nina")
    run("grant_role", "nina", roles.OFFICER)
    run("grant_role", "nina", roles.ADMIN)
    run("revoke_role", "nina", roles.ADMIN)
    run("grant_role", "nina", roles.SUPERUSER)
    records = list(RoleChangeRecord.objects.order_by("sequence"))
    assert [(r.sequence, r.action, r.role) for r in records] == [
        (1, "grant", "officer"),
        (2, "grant", "admin"),
        (3, "revoke", "admin"),
        (4, "grant", "superuser"),
    ]
    assert [r.previous_hash for r in records[1:]] == [r.record_hash for r in records[:-1]]
    code, out, summary = run_verify()
    assert code == 0 and summary["role_changes_checked"] == 4, out


def test_the_admin_role_brings_the_admin_site_with_it_and_takes_it_away():
    user = UserFactory(role=None, username="adam")
    run("grant_role", "adam", roles.ADMIN)
    user.refresh_from_db()
    assert user.is_staff and not user.is_superuser
    run("revoke_role", "adam", roles.ADMIN)
    user.refresh_from_db()
    assert not user.is_staff
    run("grant_role", "adam", roles.SUPERUSER)
    user.refresh_from_db()
    assert user.is_superuser and user.is_staff and roles.held_roles(user) == [roles.SUPERUSER]


@pytest.mark.parametrize("command", ["grant_role", "revoke_role"])
def test_an_unknown_user_is_a_clear_error_and_changes_nothing(command):
    with pytest.raises(CommandError, match=r"No user named 'ghost': nothing changed") as raised:
        run(command, "ghost", roles.REVIEWER)
    assert raised.value.returncode == 1
    assert not RoleChangeRecord.objects.exists()


@pytest.mark.parametrize("command", ["grant_role", "revoke_role"])
def test_an_unknown_role_is_a_clear_error_naming_the_roles(command):
    user = UserFactory(role=roles.OFFICER, username="olga")
    with pytest.raises(CommandError) as raised:
        run(command, "olga", "boss")
    assert str(raised.value) == (
        "Unknown role 'boss': choose one of officer, reviewer, auditor, admin, superuser. Nothing changed."
    )
    assert group_names(user) == {roles.OFFICER} and not RoleChangeRecord.objects.exists()


@pytest.mark.slow
def test_the_command_line_exits_non_zero_with_the_message_on_stderr(tmp_path):
    """Through ``manage.py`` itself (on a scratch SQLite database): the exit code and message an operator sees."""
    from tests.audit.test_concurrency import BASE_DIR, child_env  # the suite's way to run manage.py

    env = child_env(f"sqlite:///{tmp_path / 'cli.sqlite3'}")

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
        )

    migrated = manage("migrate", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    done = manage("grant_role", "nobody-at-all", "reviewer")
    assert done.returncode == 1
    assert "No user named 'nobody-at-all': nothing changed" in done.stderr


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def typed(monkeypatch):
    """``typed(["pw", "pw"])``: what the operator types at the no-echo prompts, in order."""

    def install(answers: list[str]) -> list[str]:
        prompts: list[str] = []

        def fake_getpass(prompt: str = "") -> str:
            prompts.append(prompt)
            return answers.pop(0)

        monkeypatch.setattr(create_user_command.getpass, "getpass", fake_getpass)
        return prompts

    return install


def test_create_user_prompts_twice_and_creates_a_user_holding_the_role(typed):
    prompts = typed([PASSWORD, PASSWORD])
    out = run("create_user", "rosa", "--role", roles.REVIEWER, "--email", "rosa@bank.example", stdin=FakeTerminal())
    assert prompts == ["Password: ", "Password (again): "]
    assert "Created rosa with role reviewer" in out and PASSWORD not in out
    user = get_user_model().objects.get(username="rosa")
    assert user.check_password(PASSWORD) and user.is_active and not user.is_staff
    assert user.email == "rosa@bank.example" and group_names(user) == {roles.REVIEWER}
    record = RoleChangeRecord.objects.get()
    assert (record.user, record.action, record.role) == (user, "grant", "reviewer")


def test_create_user_asks_again_when_the_passwords_differ_or_are_weak(typed):
    typed(["one-long-password-1", "another-password-2", "short", "short", PASSWORD, PASSWORD])
    err = io.StringIO()
    call_command("create_user", "ines", "--role", roles.AUDITOR, stdin=FakeTerminal(), stdout=io.StringIO(), stderr=err)
    assert "The two passwords differ" in err.getvalue()
    assert "This password is too short. It must contain at least 12 characters." in err.getvalue()
    assert get_user_model().objects.get(username="ines").check_password(PASSWORD)


def test_create_user_gives_up_after_three_bad_passwords_and_creates_nothing(typed):
    typed(["password1234", "password1234"] * 3)
    with pytest.raises(CommandError, match="No acceptable password after 3 attempts: nothing created"):
        run("create_user", "ivan", "--role", roles.OFFICER, stdin=FakeTerminal())
    assert not get_user_model().objects.filter(username="ivan").exists()
    assert not RoleChangeRecord.objects.exists()


def test_create_user_generates_a_password_printed_once():
    out = run("create_user", "gabe", "--role", roles.OFFICER, "--generate-password")
    printed = [line for line in out.splitlines() if line.startswith("Password (shown once")]
    assert len(printed) == 1
    password = printed[0].rsplit(": ", 1)[1]
    assert len(password) >= 24 and out.count(password) == 1
    assert get_user_model().objects.get(username="gabe").check_password(password)


def test_create_user_without_a_terminal_refuses_instead_of_reading_a_password_from_a_pipe():
    with pytest.raises(CommandError, match="No terminal to prompt for the password"):
        run("create_user", "pia", "--role", roles.OFFICER, stdin=io.StringIO(PASSWORD + "\n"))
    assert not get_user_model().objects.filter(username="pia").exists()


def test_create_user_takes_no_password_argument():
    with pytest.raises(CommandError, match="unrecognized arguments: --password"):
        call_command("create_user", "pam", "--role", roles.OFFICER, "--password", PASSWORD)


def test_create_user_refuses_an_existing_user_an_unknown_role_and_a_look_alike_name():
    UserFactory(role=roles.OFFICER, username="taken")
    with pytest.raises(CommandError, match="A user named 'taken' exists already"):
        run("create_user", "taken", "--role", roles.OFFICER, "--generate-password")
    with pytest.raises(CommandError, match="Unknown role 'boss'"):
        run("create_user", "fresh", "--role", "boss", "--generate-password")
    with pytest.raises(CommandError, match="invisible or control character"):
        run("create_user", "ad\u3164min", "--role", roles.ADMIN, "--generate-password")
    assert get_user_model().objects.count() == 1 and not RoleChangeRecord.objects.exists()
