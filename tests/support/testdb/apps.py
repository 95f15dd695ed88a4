from django.apps import AppConfig


class TestDatabaseConfig(AppConfig):
    """Test-only app: a ``flush`` that lifts the audit triggers on test databases (see its docstring).

    Installed by ``tests.settings`` ahead of Django's own apps, so its
    ``flush`` command is the one the test framework calls.
    """

    name = "tests.support.testdb"
    label = "testdb"
