"""Settings for the test suite: production settings (DEBUG off, see ``make test``) plus what tests need.

* ``SECURE_SSL_REDIRECT`` off: the test client and the live server speak
  plain HTTP, so every request would be answered with a redirect to
  https://. The security tests switch it back on to test it.
* Plain static storage served from the app folders: the manifest storage
  needs ``collectstatic`` to have run, which a fresh clone has not.
* Fast password hashing: production hashing costs ~0.3 s per user, and the
  tests create hundreds of users.
* ``tests.support.testdb``: a ``flush`` that may empty the append-only audit
  tables of a *test* database (transactional tests flush after each test).
"""

from creditsite.settings import *  # noqa: F403
from creditsite.settings import INSTALLED_APPS

SECURE_SSL_REDIRECT = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INSTALLED_APPS = ["tests.support.testdb", *INSTALLED_APPS]

# Tasks run in the caller's process as soon as they are enqueued
# (``infrastructure.task_queue``); tests of real worker processes start
# ``manage.py qcluster`` themselves (tests/support/workers.py).
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
