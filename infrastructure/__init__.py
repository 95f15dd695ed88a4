"""Database-level code the apps build on: not a Django app, no models, no views.

* ``sqlite_backend``: Django's SQLite backend, converting each statement's
  placeholders once (see ``UPGRADING.md``: it overrides a private method);
* ``rows``: single-row INSERT and SELECT statements compiled once per model,
  for the few statements every submission runs;
* ``indexes``: a migration helper that drops or restores one index without
  SQLite's table rebuild.

Nothing here imports the apps; the apps import it (``pyproject.toml``, import-linter).
"""
