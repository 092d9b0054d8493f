# Shortcuts for the commands README.md documents; bin/ holds the real scripts.
.PHONY: test lint migrations-check reset-local-db

PY := .venv/bin/python
export SECRET_KEY ?= insecure-key-for-tests-only

test:  ## lint, check migrations, run the whole suite (DATABASE_URL picks the database)
	bin/test

lint:
	.venv/bin/ruff check .

migrations-check:
	$(PY) manage.py makemigrations --check --dry-run

reset-local-db:  ## the local SQLite database only: delete it, migrate, load the source cases
	rm -f var/registry.sqlite3
	env -u DATABASE_URL DEBUG=1 $(PY) manage.py migrate --noinput
	env -u DATABASE_URL DEBUG=1 $(PY) manage.py loaddata agents source_cases
