# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/config.yaml
CORES ?= all

.PHONY: install run test bench strategy-benchmark test-cluster clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/python -m treemtl.execution.run_workflow --configfile $(CONFIG) --cores $(CORES)

test: install
	$(BIN)/python -m pytest -q

bench: install
	set -e; for f in scripts/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

# Two-task-table strategies x score weightings over unseen scene/seed sets (docs/pair_strategies.md).
# 42 to 65 minutes per set on 2 CPU cores; SCALE=smoke only proves the pipeline runs.
SETS ?= 1 2 3 4
SCALE ?= full
strategy-benchmark: install
	$(BIN)/python scripts/strategy_benchmark.py --sets $(SETS) --scale $(SCALE) --cores $(CORES)

# A single-node SLURM cluster on this machine (apt-get installs slurm-wlm + munge if missing),
# then the workflow through the slurm profile. Not part of `make test` (minutes, needs root).
test-cluster: install
	scripts/local_slurm.sh up
	$(BIN)/python -m pytest -q -m cluster tests/test_cluster.py

clean:
	rm -rf $(VENV) results .snakemake
