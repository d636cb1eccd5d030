# gotty-py: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` needs only the runtime (about 76 MB); the test, lint and browser
# tools (Playwright, mypy, ruff: several hundred MB more) and the bench's yardstick
# (terminado, pure Python) come with the first test, lint or bench.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
PORT ?= 8080
# The embedded default: a writable bash, reachable from this machine only.
RUN_COMMAND ?= bash

.PHONY: venv run test test-fast lint docs bench system-packages clean
.DEFAULT_GOAL := run

# The development venv: the runtime, the test extra and the bench extra.
venv: $(TEST_STAMP)

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(TEST_STAMP)

run: $(RUNTIME_STAMP)
	$(BIN)/gotty-py --address 127.0.0.1 --port $(PORT) --permit-write $(RUN_COMMAND)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads one) and
# Debian's redis-server for the replica tests.
system-packages:
	scripts/ensure-system-packages.sh

# The suite in two passes: most tests on TEST_WORKERS pytest-xdist workers (they mostly wait
# on servers, PTYs and Chromium, so three fit two cores), then the few marked `serial`, which
# measure the server's responsiveness and must not share the machine with the others. Both
# passes always run; the exit status is a failure if either failed.
TEST_WORKERS ?= 3
SERIAL_PASS = $(BIN)/pytest -m "serial$(if $(1), and $(1))"
PARALLEL_PASS = $(BIN)/pytest -n $(TEST_WORKERS) -m "not serial$(if $(1), and $(1))"

test: venv system-packages
	$(call PARALLEL_PASS,); parallel=$$?; $(call SERIAL_PASS,); serial=$$?; \
	exit $$(( parallel || serial ))

test-fast: venv
	$(call PARALLEL_PASS,not browser); parallel=$$?; $(call SERIAL_PASS,not browser); \
	serial=$$?; exit $$(( parallel || serial ))

lint: venv
	$(BIN)/ruff check gotty_py tests bench $(wildcard examples)
	$(BIN)/mypy

docs: $(RUNTIME_STAMP)
	$(BIN)/python -m gotty_py.docs markdown > docs/options.md
	$(BIN)/python -m gotty_py.docs hcl > config/gotty.example.hcl

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts

include frontend/Makefile.inc
