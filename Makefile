# The two commands: `make run` and `make test`. Both build the virtualenv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean system-packages browser-packages

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "simrenew needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "python3-venv is missing; installing it with apt-get"; \
			apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && \
			$(PYTHON) -m venv $(VENV); \
		else \
			echo "cannot create a virtualenv: install python3-venv (sudo apt-get install python3-venv)"; \
			exit 1; \
		fi; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian packages beside Python (scripts/system-packages.sh): the CJK font always,
# Chromium for the browser tests. Installed as root; otherwise it says what is missing.
system-packages:
	@bash scripts/system-packages.sh

browser-packages:
	@bash scripts/system-packages.sh --browser

run: $(STAMP) system-packages
	$(BIN)/simrenew serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck browser-packages
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/renewals.py

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
