"""Database-level code the apps build on: not a Django app, no models, no views.

* ``sqlite_backend``: Django's SQLite backend with a writer queue (writers
  wake when the previous one commits), WAL checkpoints outside it, and
  placeholders converted once (``UPGRADING.md``: it overrides private methods);
* ``rows``: single-row INSERT and SELECT statements compiled once per model,
  for the few statements every submission runs;
* ``indexes``: a migration helper that drops or restores one index without
  SQLite's table rebuild.

Nothing here imports the apps; the apps import it (``pyproject.toml``, import-linter).
"""
