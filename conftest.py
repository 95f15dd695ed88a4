"""Test-wide settings that differ from production, and why.

The suite runs with production settings (DEBUG off, see ``make test``)
except for two things that only exist for real HTTPS traffic and a
collected static tree:

* ``SECURE_SSL_REDIRECT``: the test client and the live server speak plain
  HTTP, so every request would be answered with a redirect to https://.
  ``tests/test_security_headers.py`` switches it back on to test it.
* ``STORAGES``: the manifest storage needs ``collectstatic`` to have run.
  For the same reason WhiteNoise serves straight from the app folders
  (``WHITENOISE_USE_FINDERS``) instead of warning about a missing
  ``STATIC_ROOT`` on a fresh clone.

Set here, at import, before any request handler or live server is built
(middleware reads these settings once, when it is instantiated).
"""

from django.conf import settings

settings.SECURE_SSL_REDIRECT = False
settings.STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
settings.WHITENOISE_USE_FINDERS = True
settings.WHITENOISE_AUTOREFRESH = True
