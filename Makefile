# segflow developer commands. `make demo` and `make test` are all a fresh machine needs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SCALE   ?= 100k
WORKERS ?= 2

.PHONY: help install demo test lint bench server clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -c requirements.lock -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install segflow with its dev and spark extras (pinned by requirements.lock)

demo: $(STAMP)  ## generate a 100k-customer Holi world and run the whole campaign refresh
	$(BIN)/segflow demo holi

test: $(STAMP)  ## run the test suite in WORKERS processes (default 2; WORKERS=0: one process)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)  ## ruff check
	$(BIN)/ruff check .

bench: $(STAMP)  ## benchmarks at SCALE=100k|1m|10m; results in benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.run --scale $(SCALE)

server: $(STAMP)  ## start a Prefect server on loopback with its database in the workspace
	$(BIN)/segflow server

clean:  ## remove the workspace (data, registry, MLflow database, runs)
	rm -rf workspace
