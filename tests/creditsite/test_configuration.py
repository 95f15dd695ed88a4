"""An operator who forgets the secret key gets a sentence saying what to set, not a stack trace."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_manage_py_without_a_secret_key_in_production_says_what_to_set() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG"}}
    environment["DJANGO_SETTINGS_MODULE"] = "creditsite.settings"
    finished = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert "DJANGO_SECRET_KEY is not set" in finished.stderr
    assert "make run" in finished.stderr
    assert "Traceback" not in finished.stderr
