# The two commands of the README: `make demo` (set up + run the example) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint dev clean browser

$(BIN)/dfg: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,local,example,review,spark,dbt,nlp]'
	@touch $(BIN)/dfg

setup: $(BIN)/dfg

demo: setup
	$(BIN)/dfg demo

# The UI test drives Debian's chromium through Playwright (no browser download of Playwright's own).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }

# The package's lint and types (configured in pyproject.toml): part of the test run.
lint: setup
	$(BIN)/ruff check dataflow_governance
	$(BIN)/mypy

# Two workers: most tests wait on subprocesses, S3 and the databases, so two halve the wall time.
test: setup browser lint
	$(BIN)/pytest -q -n 2

DEV_PORT ?= 3000

# Run storage and the warehouse hold personal data: owner-only files (umask 077).
dev: setup
	umask 077 && mkdir -p .dfg/dagster_home
	umask 077 && DAGSTER_HOME=$(CURDIR)/.dfg/dagster_home $(BIN)/dagster dev --port $(DEV_PORT)

clean:
	-$(BIN)/dfg local stop
	rm -rf .dfg out
