# Every target creates and uses .venv itself: a fresh clone needs only `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HISTORY ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser run test lint bench demo-model clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,dask,postgres]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's chromium (Playwright downloads no browser here): installed when missing
# and apt-get can run as root; elsewhere the browser tests skip and say why (.ci/run makes them mandatory).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "chromium is missing and cannot be installed here: the browser tests will skip"; \
		fi; \
	fi

demo-model: install
	$(BIN)/recoup bootstrap $(if $(HISTORY),--history $(HISTORY),)

run: demo-model
	$(BIN)/recoup serve --host $(HOST) --port $(PORT)

test: install browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) mlruns mlflow.db data .pytest_cache
