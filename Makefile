# dermgmt: `make run` for the demo stack, `make test` for the suite.
# Both install what is missing first (uv, then .venv from uv.lock).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: install run test bench lint format clean

install: $(VENV)/.synced

# uv from PATH, or bootstrapped into .tools/ with the system Python.
.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen
	@touch $@

run: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py demo
	@echo "Starting web (http://127.0.0.1:8000/admin/), worker and beat; Ctrl-C stops all."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .tools var
