# Customer 360: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
PORT ?= 5006
export PORT

PACKAGES := dashboard connectors models

.PHONY: install bytecode lock data models index demo test test-deps lint format bench clean

install: $(VENV)/.installed  ## create .venv with the exact versions of requirements.lock (idempotent)

$(VENV)/.installed: pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

bytecode: install  ## compile the project's modules, so a start does not (pip compiles only what it installs)
	@$(BIN)/python -m compileall -q $(PACKAGES)

lock: install  ## re-resolve requirements.lock from pyproject.toml's ranges (and its build requirements)
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
		| $(BIN)/uv pip compile pyproject.toml - --extra test --universal --generate-hashes \
			--python-version 3.10 --quiet --output-file $(LOCK)

data: install  ## generate the sample data set if it is not there yet
	$(BIN)/python -m connectors.sample --if-missing

models: data  ## train the models when they are missing or older than the data or the code
	$(BIN)/python -m models.train --if-stale

index: models  ## build the directory once per data version (a progress bar), unless it is current
	$(BIN)/python -m connectors.directory.build --if-stale

demo: index bytecode  ## serve the dashboard on embedded defaults at http://localhost:$(PORT)/customer360 (caller verification off)
	C360_VERIFY=$${C360_VERIFY:-off} $(BIN)/python -m dashboard

test-deps:  ## MariaDB server, Chromium, redis-server and HAProxy from Debian's packages, when missing
	@missing=""; \
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing$$missing from Debian's packages"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
		else \
			echo "NOTE: the tests that need$$missing will be skipped: run 'sudo apt-get install$$missing'"; \
		fi; \
	fi

test: install test-deps  ## the whole suite, with real MariaDB, Kafka-protocol broker, Redis, HAProxy and Chromium
	$(BIN)/python -m pytest

lint:  ## ruff, as the test suite runs it
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: install  ## the benchmarks, each printing JSON (see README; about 40 minutes in all)
	$(BIN)/python -m bench.directory --json
	$(BIN)/python -m bench.stream --json
	$(BIN)/python -m bench.models --json
	$(BIN)/python -m bench.sessions --sessions 50 --json
	$(BIN)/python -m bench.kiosk --json
	$(BIN)/python -m bench.scale --json
	$(BIN)/python -m bench.map --json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
