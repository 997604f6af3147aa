# The two commands of the README: `make demo` (set up + run the example) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint dev clean browser vendor

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
BROWSER_PORT ?= 3001

# Dagster's UI and the lineage browser it links to ("column lineage ↗"), stopped together.
# Run storage and the warehouse hold personal data: owner-only files (umask 077).
dev: setup
	umask 077 && mkdir -p .dfg/dagster_home
	umask 077 && $(BIN)/dfg catalog build >/dev/null
	umask 077 && { $(BIN)/dfg serve --port $(BROWSER_PORT) & serve=$$!; trap "kill $$serve 2>/dev/null" EXIT INT TERM; \
	  DFG_BROWSER_URL=http://127.0.0.1:$(BROWSER_PORT) DAGSTER_HOME=$(CURDIR)/.dfg/dagster_home \
	  $(BIN)/dagster dev --port $(DEV_PORT); }

# The lineage browser's layout library, as published on the npm registry (see its README there).
DAGRE ?= 3.1.4
VENDOR = dataflow_governance/browse/static/vendor
vendor:
	rm -rf .vendor && mkdir -p .vendor && cd .vendor && npm pack --silent @dagrejs/dagre@$(DAGRE) >/dev/null && tar xzf *.tgz
	cp .vendor/package/dist/dagre.min.js .vendor/package/dist/dagre.min.js.LEGAL.txt $(VENDOR)/
	cp .vendor/package/LICENSE $(VENDOR)/dagre.LICENSE.txt
	rm -rf .vendor

clean:
	-$(BIN)/dfg local stop
	rm -rf .dfg out
