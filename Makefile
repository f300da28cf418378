# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest conformance bench docs screenshots browser foreign test-postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/oir serve --demo

test: $(STAMP) browser foreign lint typecheck pytest

# The conformance suite against the emulator `make run` serves (or TARGET=URL), its report
# where the dashboard looks; the emulator's state is put back afterwards.
TARGET  ?= http://127.0.0.1:8080
REPORTS ?= $(or $(OIR_REPORT_DIR),var/reports)
conformance: $(STAMP)
	$(BIN)/oir conformance run --target $(TARGET) --role debitor --report $(REPORTS)/debitor

lint: $(STAMP)
	$(BIN)/ruff check oir_adapter emulator oir_cli tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

# The HTTP figures use wrk (Debian's package) when it can be had, else Python threads.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
	  >/dev/null 2>&1; } || echo "bench: wrk not available; using Python threads for load"
	$(BIN)/python -m benchmarks --json var/bench.json

# The PostgreSQL tests (several workers and hosts on one database, the story with 4
# workers) on a throwaway cluster from Debian's packages; stopped again afterwards.
test-postgres: $(STAMP)
	@url=$$(scripts/postgres.sh start) && \
	OIR_TEST_PG_URL=$$url $(BIN)/pytest -q -m postgres tests/test_postgres.py; \
	status=$$?; scripts/postgres.sh stop; exit $$status

# Debian's headless Chromium for the browser tests and the screenshots (apt, as root).
browser:
	sh scripts/install-chromium.sh

# The foreign SOAP stacks the tests drive: node-soap (npm) and JAX-WS wsimport (apt, as root).
foreign:
	sh scripts/install-foreign-stacks.sh

screenshots: $(STAMP) browser
	$(BIN)/python scripts/screenshots.py

docs: $(STAMP)
	$(BIN)/oir docs rules --out docs/rules.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/foreign/node/node_modules
