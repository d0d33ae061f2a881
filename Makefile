# The README's commands. `make demo` works on a fresh machine with Python 3.11+ and make.
SHELL := /bin/bash
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export UV_PYTHON_DOWNLOADS := never

# uv from PATH, else a private copy from PyPI (the only place anything is fetched from).
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: install browser demo test test-fast ui bench lint docs clean

$(UV):
	python3 -m venv .tools && .tools/bin/pip install --quiet uv

install: $(UV)
	@# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (sandboxes, CI images)
	@# nothing is cached at import, and every definitions load compiled ~800 modules again (+1.8 s).
	$(UV) sync --frozen --compile-bytecode
	$(CURDIR)/.venv/bin/python -m compileall -q dagster_project
	@# Parsed with the warehouse path runs will use: a changed profile costs dbt a full re-parse.
	cd dbt && export MOPT_DUCKDB_PATH=$${MOPT_DUCKDB_PATH:-$${MOPT_DATA_DIR:-$(CURDIR)/data}/warehouse.duckdb} && \
		$(CURDIR)/.venv/bin/dbt parse --profiles-dir . --quiet && \
		$(CURDIR)/.venv/bin/python -m dagster_project.lib.dbt_manifest
	mkdir -p $(DAGSTER_HOME) && cp -n deploy/dagster.local.yaml $(DAGSTER_HOME)/dagster.yaml || true

# Debian's chromium + driver for the report's browser test: installed when root (CI, containers),
# else named (the test then skips, except under CI=true).
browser:  ## headless chromium + chromium-driver for the report's browser test
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core; \
	else echo "browser test: run 'sudo make browser' (apt-get install chromium chromium-driver)"; fi

demo: install  ## simulate the sample world and materialize every asset through Dagster
	$(RUN) mopt demo

test: install browser  ## every test, the slow end-to-end ones included (CI runs this)
	$(RUN) pytest -q

test-fast: install
	$(RUN) pytest -q -m "not slow"

ui: install  ## the Dagster UI on the demo data: http://127.0.0.1:3000
	$(RUN) dagster dev -w deploy/workspace.local.yaml -h 127.0.0.1 -p 3000

bench: install  ## foundation and demo benchmarks -> bench/out/*.json and docs/benchmarks.md
	$(RUN) mopt bench foundation --repeats 3
	$(RUN) mopt bench demo --repeats 3

lint: install
	$(RUN) ruff check . && $(RUN) ruff format --check .

# dbt docs read the warehouse's read copy (published after every run), never the live file a
# run may hold, and write to their own target folder: dbt/target's manifest and partial-parse
# state, which Dagster and the next run use, stay as they are (no full re-parse afterwards).
READ_COPY = $${MOPT_DATA_DIR:-$(CURDIR)/data}/warehouse.read.duckdb
docs: install  ## dbt docs (catalog of every model) in dbt/target/docs: `dbt docs serve --target-path target/docs`
	@test -f $(READ_COPY) || { echo "no $(READ_COPY): materialize once (make demo) first"; exit 1; }
	cd dbt && MOPT_DUCKDB_PATH=$(READ_COPY) $(CURDIR)/.venv/bin/dbt docs generate \
		--profiles-dir . --target-path target/docs

clean:
	rm -rf data dagster_home dbt/target dbt/logs
