# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
# `make run PORT=8001` serves on another port (and HOST=0.0.0.0 on every address).
PORT ?= 8000
HOST ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test check bench fuzz clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/indicators db upgrade
	$(BIN)/indicators seed
	$(BIN)/indicators serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# wrk drives the load when it is installed (as root, it is installed here); else a Python client does.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } \
		>/dev/null 2>&1; } || echo "wrk not installed: the Python load generator is used"
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

# The README's pictures (docs/screenshots), taken by the browser tests; `make test` leaves them alone
# and writes its own to .artifacts/screenshots.
screenshots: $(STAMP)
	INDICATORS_SCREENSHOTS=docs $(BIN)/pytest tests/dashboard/test_browser.py -q -k sqlite

# The long run: 500 schemathesis examples per operation (as admin and as a clerk) and 500 stateful
# scenarios, 200 texts per field through every format, and the concurrency, fault and pooler tests
# with 32 writers x 100 writes, 100 If-Match rounds. Figures: docs/robustness.md.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} TEXT_EXAMPLES=$${TEXT_EXAMPLES:-200} STRESS_WRITERS=$${STRESS_WRITERS:-32} \
	STRESS_WRITES=$${STRESS_WRITES:-100} STRESS_ROUNDS=$${STRESS_ROUNDS:-100} \
	$(BIN)/pytest tests/test_fuzz.py tests/test_concurrency.py tests/test_faults.py tests/test_pooler.py \
		tests/test_text_formats.py tests/quality/test_columns.py -q -rA

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
