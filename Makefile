# Two commands: `make demo` runs Heliograph with the example; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
POSTGRES_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: demo run test lint test-sqlite test-postgres install

$(BIN)/heliograph: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Heliograph needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/heliograph

demo: install
	$(BIN)/heliograph demo

run: install
	$(BIN)/heliograph run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy heliograph
	$(BIN)/lint-imports --no-cache

test-sqlite: install
	env -u DATABASE_URL $(BIN)/pytest

# Runs when PostgreSQL answers; skips with a message otherwise (HELIOGRAPH_REQUIRE_POSTGRES=1 fails instead).
test-postgres: install
	DATABASE_URL=$(POSTGRES_TEST_URL) HELIOGRAPH_TEST_ON_POSTGRES=1 $(BIN)/pytest

test: lint test-sqlite test-postgres
