# Kontor: two front doors. `make demo` runs the product, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KONTOR := $(BIN)/kontor
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install lint typecheck migrations-check pytest bench clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# KONTOR_DEMO=1: the demo may run on the public demo key; without it a server refuses to start unless
# SECRET_KEY is set (production).
demo: export KONTOR_DEMO = 1
demo: install
	mkdir -p var
	$(KONTOR) migrate --noinput
	@# PostgreSQL only: the application role and the row-level security policies (docs/operations.md).
	@case "$$DATABASE_URL" in postgres*) $(KONTOR) rls setup;; esac
	$(KONTOR) collectstatic --noinput -v0
	$(KONTOR) load_demo
	$(KONTOR) run_demo

# Ruff, then import-linter: the contracts in pyproject.toml say who may import whom (docs/architecture.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy kontor

migrations-check: install
	$(KONTOR) makemigrations --check --dry-run

# The suite runs on SQLite always, and on PostgreSQL too when KONTOR_TEST_DATABASE_URL is set.
pytest: install
	DATABASE_URL= $(BIN)/pytest $(PYTEST_ARGS)
	@if [ -n "$$KONTOR_TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$KONTOR_TEST_DATABASE_URL"; \
		DATABASE_URL="$$KONTOR_TEST_DATABASE_URL" $(BIN)/pytest $(PYTEST_ARGS); \
	else echo "== KONTOR_TEST_DATABASE_URL not set: PostgreSQL run skipped"; fi

test: lint typecheck migrations-check pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/*.sqlite3* var/mail
