# Smart Credit Risk: the two quick-start commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DATA ?= ../shared/data/credit_risk_train.csv
# Serving and tests pin OpenMP/BLAS to one thread per process: with default
# threading two workers scoring at once were measured 10-30x slower.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: run worker test test-fast lint setup model bench migrate serve bench-load bench-faults bench-profile bench-instructions bench-monitoring bench-batch bench-verify bench-scale bench-governance

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

migrate: setup
	$(PY) manage.py migrate --noinput

# Local development server: DEBUG on, a demo officer login printed. The task
# queue's worker (django-q2, queue in the same database) runs beside it and is
# stopped when the server stops, however it stops (Ctrl-C, an error, kill).
run: export DJANGO_DEBUG = 1
run: migrate
	$(PY) manage.py ensure_model
	$(PY) manage.py create_demo_officer
	$(PY) manage.py run_workers & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; trap 'exit 130' INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# Task-queue workers for production (one per machine, beside `make serve`, same
# environment): they take jobs from the queue table in DATABASE_URL. QUEUE_WORKERS processes.
worker: setup
	@test -n "$$DJANGO_SECRET_KEY" || { echo "make worker: set DJANGO_SECRET_KEY (the same as the servers') first" >&2; exit 1; }
	$(PY) manage.py ensure_model
	exec $(PY) manage.py run_workers

# Production server (gunicorn, gunicorn.conf.py): DEBUG off unless set, and
# refuses to start without DJANGO_SECRET_KEY or with a failing deploy check
# (e.g. a demo account present). PORT, WEB_CONCURRENCY, DATABASE_URL,
# DJANGO_ALLOWED_HOSTS: see docs/deploy-checks.md.
serve: export DJANGO_DEBUG ?= 0
serve: setup
	@test -n "$$DJANGO_SECRET_KEY" || { echo "make serve: set DJANGO_SECRET_KEY (50+ random characters) first" >&2; exit 1; }
	$(PY) manage.py migrate --noinput
	@# --clear: STATIC_ROOT is served to anyone, so it holds exactly what this release collects
	@# (the manifest lives in staticfiles-manifest/; an older release kept it in staticfiles/).
	$(PY) manage.py collectstatic --noinput --clear --verbosity 0
	$(PY) manage.py ensure_model
	$(PY) manage.py check --deploy --fail-level ERROR
	exec $(VENV)/bin/gunicorn -c gunicorn.conf.py creditsite.wsgi

# Tests run with production settings (DEBUG off) and a throwaway key.
test: export DJANGO_SECRET_KEY ?= make-test-only-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789
test: setup
	$(PY) manage.py ensure_model
	$(PY) -m pytest

# Quick feedback while working: no browser, no slow, no PostgreSQL-only tests (under 90 s).
test-fast: export DJANGO_SECRET_KEY ?= make-test-only-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789
test-fast: setup
	$(PY) manage.py ensure_model
	$(PY) -m pytest -m "not browser and not slow and not postgres"

# Format, lint and the layer contract (pyproject.toml), as CI runs them.
lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Train the default design (issue 12) from the shared data; activating it is a model validator's decision.
model: export DJANGO_DEBUG = 1
model: setup
	$(PY) manage.py train_model --data $(DATA)

bench: export DJANGO_DEBUG = 1
bench: setup
	$(PY) bench/scoring_bench.py

# HTTP load (wrk, needs `apt-get install wrk`): our submit path beside the original Flask app, one run.
# Extra flags through ARGS, e.g. `make bench-load ARGS="--duration 30"`; `ARGS="--api"` also measures
# POST /api/v1/applications/ (JSON, token) on the same server right after each form round.
bench-load: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/load_submit.py $(ARGS)

# Load and fault tests on SQLite and PostgreSQL (127.0.0.1:5432, trust auth); about 12 minutes.
# e.g. `make bench-faults ARGS="--db sqlite --duration 20"`. Exits non-zero if an invariant fails.
bench-faults: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/load_faults.py $(ARGS)

# Batch files end to end (upload -> scored -> stored -> chained): 100,000 rows from the shared data on
# SQLite with one and two workers and on PostgreSQL with two; ARGS e.g. "--rows 1000000 --configs sqlite:2".
bench-batch: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/batch_bench.py $(ARGS)

# verify_decisions --full over N decision records (default 1,000,000) and --incremental over 10,000 more, on
# SQLite then PostgreSQL (VERIFY_BENCH_PG, default database i16v_bench on 127.0.0.1, dropped and recreated);
# targets <= 20 s and <= 1 s. e.g. N=100000, or ARGS="--existing --sqlite-path db.sqlite3 --database sqlite".
bench-verify: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/verify_bench.py --records $(N) $(ARGS)

# Where a submit request spends its time (in-process, cProfile, SQL per request).
bench-profile: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/load_profile.py $(ARGS)

# Instructions per submission under callgrind (needs `apt-get install valgrind`): repeatable to ~0.5%,
# unlike wall time on a shared machine. ARGS e.g. "--keep /tmp/submit.callgrind" for callgrind_annotate.
bench-instructions: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/submit_instructions.py $(ARGS)

# Governance per scoring: the serving-state and challenger reads, shadow scoring, and whole submissions with no
# challenger, a challenger and a broken one (interleaved rounds), on SQLite; ARGS e.g.
# "--database-url postgres://postgres@127.0.0.1:5432/EMPTY_DB" for PostgreSQL.
bench-governance: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/governance_bench.py $(ARGS)

# Every monitoring page at 1,000,000 stored applications, SQLite then PostgreSQL (127.0.0.1:5432; the database
# named by --pg-database, default monitoring_bench, is dropped and recreated). e.g. ARGS="--rows 100000".
bench-monitoring: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/monitoring_bench.py --db sqlite $(ARGS)
	$(PY) bench/monitoring_bench.py --db postgres $(ARGS)

# Every page and job of issue 16 at N applications (default 1,000,000), SQLite then PostgreSQL (127.0.0.1:5432; the
# database scale_bench is dropped and recreated), one table against the targets. e.g. `make bench-scale N=100000`;
# ARGS e.g. "--db sqlite", "--reuse-sqlite FILE" / "--reuse-postgres DBNAME" (an already seeded copy; written to),
# "--phases pages,exports" (of pages,exports,verify,incremental).
N ?= 1000000
bench-scale: setup
	DJANGO_DEBUG=1 $(PY) manage.py ensure_model
	$(PY) bench/scale_bench.py --applications $(N) $(ARGS)
